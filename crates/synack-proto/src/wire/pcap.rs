//! pcap capture files (classic libpcap format): writer and reader.
