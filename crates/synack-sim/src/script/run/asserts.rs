//! `%{ assert ... }%` blocks, evaluated against the connection under test's
//! [`TcpInfo`] at the block's time (packetdrill collects `tcp_info` at the
//! event and runs the Python after the last event; a failed assert is
//! reported only if nothing else failed first).

use synack_proto::tcp::conn::TcpInfo;

use super::linux;
use super::runner::{Runner, Step, fail, skip};
use crate::script::ast::CodeBlock;
use crate::script::code::{self, AssertOutcome, EvalError, StatementKind};

/// A `tcpi_*` field of synack's [`TcpInfo`], by Linux's name; `None` for
/// a field synack does not have.
pub fn tcpi_field(info: &TcpInfo, name: &str) -> Option<i64> {
    let v = |x: u64| Some(i64::try_from(x).unwrap_or(i64::MAX));
    match name {
        "tcpi_state" => Some(linux::tcp_state_number(info.state)),
        "tcpi_ca_state" => Some(i64::from(info.ca_state.linux_number())),
        "tcpi_retransmits" => v(info.retransmits.into()),
        "tcpi_probes" => v(info.probes.into()),
        "tcpi_backoff" => v(info.backoff.into()),
        "tcpi_options" => v(info.options.into()),
        "tcpi_snd_wscale" => v(info.snd_wscale.into()),
        "tcpi_rcv_wscale" => v(info.rcv_wscale.into()),
        "tcpi_rto" => v(info.rto),
        "tcpi_ato" => v(info.ato),
        "tcpi_snd_mss" => v(info.snd_mss.into()),
        "tcpi_rcv_mss" => v(info.rcv_mss.into()),
        "tcpi_unacked" => v(info.unacked.into()),
        "tcpi_last_data_sent" => v(info.last_data_sent),
        "tcpi_last_data_recv" => v(info.last_data_recv),
        "tcpi_last_ack_recv" => v(info.last_ack_recv),
        "tcpi_rtt" => v(info.rtt),
        "tcpi_rttvar" => v(info.rttvar),
        "tcpi_snd_ssthresh" => v(info.snd_ssthresh.into()),
        "tcpi_snd_cwnd" => v(info.snd_cwnd.into()),
        "tcpi_advmss" => v(info.advmss.into()),
        "tcpi_reordering" => v(info.reordering.into()),
        "tcpi_sacked" => v(info.sacked.into()),
        "tcpi_lost" => v(info.lost.into()),
        "tcpi_retrans" => v(info.retrans.into()),
        "tcpi_reord_seen" => v(info.reord_seen.into()),
        "tcpi_dsack_dups" => v(info.dsack_dups.into()),
        "tcpi_rcv_space" => v(info.rcv_space.into()),
        "tcpi_total_retrans" => v(info.total_retrans),
        "tcpi_bytes_sent" => v(info.bytes_sent),
        "tcpi_bytes_retrans" => v(info.bytes_retrans),
        "tcpi_bytes_acked" => v(info.bytes_acked),
        "tcpi_bytes_received" => v(info.bytes_received),
        "tcpi_segs_out" => v(info.segs_out),
        "tcpi_segs_in" => v(info.segs_in),
        "tcpi_data_segs_out" => v(info.data_segs_out),
        "tcpi_data_segs_in" => v(info.data_segs_in),
        "tcpi_notsent_bytes" => v(info.notsent_bytes.into()),
        "tcpi_delivered" => v(info.delivered),
        "tcpi_snd_wnd" => v(info.snd_wnd.into()),
        "tcpi_rcv_wnd" => v(info.rcv_wnd.into()),
        "tcpi_min_rtt" => v(info.min_rtt),
        _ => None,
    }
}

impl Runner<'_> {
    /// A `%{ }%` block at its time.
    pub fn code(&mut self, block: &CodeBlock) -> Step<()> {
        let stmts = code::statements(block);
        if stmts
            .iter()
            .all(|s| matches!(s.kind, StatementKind::Unsupported { .. }))
        {
            for s in &stmts {
                if let StatementKind::Unsupported { text, reason } = &s.kind {
                    self.notes
                        .push(format!("line {}: `{text}` not run: {reason}", s.span.line));
                }
            }
            return Ok(());
        }
        let handle = self.sut.and_then(|i| self.conns[i].handle);
        let info = handle.and_then(|h| self.net.stack.tcp_info(h));
        let Some(info) = info else {
            return fail(
                self.line,
                "no connection under test to read tcp_info from (accept it first)",
            );
        };
        for s in &stmts {
            match &s.kind {
                StatementKind::Unsupported { text, reason } => {
                    self.notes
                        .push(format!("line {}: `{text}` not run: {reason}", s.span.line));
                }
                StatementKind::Assert { .. } => {
                    let lookup =
                        |name: &str| tcpi_field(&info, name).or_else(|| code::linux_constant(name));
                    match s.kind.check(&lookup) {
                        None | Some(Ok(AssertOutcome::Passed)) => {}
                        Some(Ok(AssertOutcome::Failed { message })) => {
                            let text = &block.text[s.span.start.saturating_sub(block.span.start + 2)
                                ..(s.span.end.saturating_sub(block.span.start + 2))
                                    .min(block.text.len())];
                            let mut msg = format!("AssertionError: `{}`", text.trim());
                            if let Some(m) = message {
                                msg.push_str(&format!(" (message: {m})"));
                            }
                            self.deferred.push((s.span.line, msg));
                        }
                        Some(Err(EvalError::UnknownName { name, .. }))
                            if name.starts_with("tcpi_") =>
                        {
                            return skip(format!(
                                "tcp_info field {name}: synack's TcpInfo does not have it"
                            ));
                        }
                        Some(Err(e)) => {
                            return fail(s.span.line, format!("error evaluating assert: {e}"));
                        }
                    }
                }
            }
        }
        self.log(|| "code    tcp_info collected, asserts evaluated".to_string());
        Ok(())
    }
}
