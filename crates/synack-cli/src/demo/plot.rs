//! `synack demo --plot FILE.svg` and `--cwnd-csv FILE`: one connection's
//! congestion window, slow start threshold and bytes in flight over virtual
//! time, with its losses, retransmissions, timeouts, probes and undos.
//!
//! The points come from the stack's congestion trace
//! ([`Event::Congestion`], raised on every change). The SVG is written by
//! hand: lines, marks, axes with ticks and labels, a legend; text is plain
//! SVG `<text>` in a generic font family, so any viewer draws it without
//! font files.

use std::fmt::Write as _;
use std::net::SocketAddrV4;

use synack_proto::Instant;
use synack_proto::stack::Event;
use synack_proto::tcp::recovery::{CaState, CongestionSample, Mark};

/// One point of the series.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Point {
    /// Seconds since the series' start.
    pub t: f64,
    pub sample: CongestionSample,
}

/// The congestion trace of the connection from `local`, from `start` on.
pub fn series(events: &[(Instant, Event)], local: SocketAddrV4, start: Instant) -> Vec<Point> {
    events
        .iter()
        .filter_map(|(_, e)| match e {
            Event::Congestion {
                local: l,
                at,
                sample,
                ..
            } if *l == local => Some(Point {
                t: at.saturating_duration_since(start).as_secs_f64(),
                sample: *sample,
            }),
            _ => None,
        })
        .collect()
}

fn ssthresh(s: &CongestionSample) -> Option<u32> {
    (s.ssthresh != u32::MAX).then_some(s.ssthresh)
}

/// The raw series as CSV, one line per sample.
pub fn csv(points: &[Point]) -> String {
    let mut out =
        String::from("time_s,cwnd_bytes,ssthresh_bytes,in_flight_bytes,ca_state,event,seq,len\n");
    for p in points {
        let s = &p.sample;
        let (event, seq, len) = match s.mark {
            None => ("", String::new(), String::new()),
            Some(Mark::Loss { segments }) => ("loss", String::new(), segments.to_string()),
            Some(Mark::Timeout) => ("timeout", String::new(), String::new()),
            Some(Mark::Retransmit { seq, len }) => {
                ("retransmit", seq.raw().to_string(), len.to_string())
            }
            Some(Mark::Probe { seq, len }) => ("probe", seq.raw().to_string(), len.to_string()),
            Some(Mark::Undo) => ("undo", String::new(), String::new()),
        };
        let _ = writeln!(
            out,
            "{:.6},{},{},{},{},{},{},{}",
            p.t,
            s.cwnd,
            ssthresh(s).map_or(String::new(), |v| v.to_string()),
            s.pipe,
            s.ca_state.name(),
            event,
            seq,
            len
        );
    }
    out
}

/// A "nice" tick step (1, 2 or 5 times a power of ten) giving about
/// `target` ticks over `span`.
fn tick_step(span: f64, target: f64) -> f64 {
    if span <= 0.0 {
        return 1.0;
    }
    let raw = span / target;
    let mag = 10f64.powf(raw.log10().floor());
    let norm = raw / mag;
    let nice = if norm < 1.5 {
        1.0
    } else if norm < 3.5 {
        2.0
    } else if norm < 7.5 {
        5.0
    } else {
        10.0
    };
    nice * mag
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Bytes as a short label with a binary unit.
fn bytes_label(v: f64) -> String {
    if v >= 1024.0 * 1024.0 {
        format!("{:.1} MiB", v / (1024.0 * 1024.0))
    } else if v >= 1024.0 {
        format!("{:.0} KiB", v / 1024.0)
    } else {
        format!("{v:.0} B")
    }
}

/// Reads one series' value from a sample (`None`: no point).
type ValueOf = dyn Fn(&CongestionSample) -> Option<u32>;

const WIDTH: f64 = 960.0;
const HEIGHT: f64 = 540.0;
const LEFT: f64 = 90.0;
const RIGHT: f64 = 24.0;
const TOP: f64 = 48.0;
const BOTTOM: f64 = 64.0;

/// The plot as an SVG document.
pub fn svg(points: &[Point], title: &str) -> String {
    let t_max = points.last().map_or(1.0, |p| p.t).max(1e-3);
    let y_max = points
        .iter()
        .flat_map(|p| {
            [
                p.sample.cwnd,
                p.sample.pipe,
                ssthresh(&p.sample).unwrap_or(0),
            ]
        })
        .max()
        .unwrap_or(1)
        .max(1) as f64
        * 1.1;
    let plot_w = WIDTH - LEFT - RIGHT;
    let plot_h = HEIGHT - TOP - BOTTOM;
    let x = |t: f64| LEFT + t / t_max * plot_w;
    let y = |v: f64| TOP + plot_h - v.min(y_max) / y_max * plot_h;

    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(
        s,
        r#"<rect width="{WIDTH}" height="{HEIGHT}" fill="white"/>"#
    );
    let _ = writeln!(
        s,
        r#"<text x="{}" y="24" text-anchor="middle" font-size="15">{}</text>"#,
        WIDTH / 2.0,
        escape(title)
    );
    // Axes, grid, ticks and labels.
    let _ = writeln!(s, r##"<g stroke="#888" stroke-width="1">"##);
    let _ = writeln!(
        s,
        r#"<line x1="{LEFT}" y1="{}" x2="{}" y2="{}"/>"#,
        TOP + plot_h,
        LEFT + plot_w,
        TOP + plot_h
    );
    let _ = writeln!(
        s,
        r#"<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{}"/>"#,
        TOP + plot_h
    );
    let _ = writeln!(s, "</g>");
    let xs = tick_step(t_max, 8.0);
    let mut t = 0.0;
    while t <= t_max + xs * 1e-9 {
        let px = x(t);
        let _ = writeln!(
            s,
            r##"<line x1="{px:.1}" y1="{TOP}" x2="{px:.1}" y2="{:.1}" stroke="#eee"/><text x="{px:.1}" y="{:.1}" text-anchor="middle">{}</text>"##,
            TOP + plot_h,
            TOP + plot_h + 18.0,
            format_seconds(t, xs)
        );
        t += xs;
    }
    let ys = tick_step(y_max, 6.0);
    let mut v = 0.0;
    while v <= y_max {
        let py = y(v);
        let _ = writeln!(
            s,
            r##"<line x1="{LEFT}" y1="{py:.1}" x2="{:.1}" y2="{py:.1}" stroke="#eee"/><text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"##,
            LEFT + plot_w,
            LEFT - 8.0,
            py + 4.0,
            bytes_label(v)
        );
        v += ys;
    }
    let _ = writeln!(
        s,
        r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">virtual time (s)</text>"#,
        LEFT + plot_w / 2.0,
        HEIGHT - 20.0
    );
    let _ = writeln!(
        s,
        r#"<text transform="translate(20 {:.1}) rotate(-90)" text-anchor="middle">bytes</text>"#,
        TOP + plot_h / 2.0
    );
    // Timeouts: a dashed vertical line each.
    for p in points
        .iter()
        .filter(|p| p.sample.mark == Some(Mark::Timeout))
    {
        let px = x(p.t);
        let _ = writeln!(
            s,
            r##"<line x1="{px:.1}" y1="{TOP}" x2="{px:.1}" y2="{:.1}" stroke="#999" stroke-dasharray="4 3"/><text x="{px:.1}" y="{:.1}" text-anchor="middle" fill="#666">RTO</text>"##,
            TOP + plot_h,
            TOP - 4.0
        );
    }
    // The three series as step lines.
    let step_line = |value: &ValueOf| -> String {
        let mut d = String::new();
        let mut last: Option<(f64, f64)> = None;
        for p in points {
            let Some(v) = value(&p.sample) else {
                last = None;
                continue;
            };
            let (px, py) = (x(p.t), y(f64::from(v)));
            match last {
                Some((_, ly)) => {
                    let _ = write!(d, " L{px:.1},{ly:.1} L{px:.1},{py:.1}");
                }
                None => {
                    let _ = write!(d, " M{px:.1},{py:.1}");
                }
            }
            last = Some((px, py));
        }
        if let Some((_, ly)) = last {
            let _ = write!(d, " L{:.1},{ly:.1}", x(t_max));
        }
        d
    };
    let series: [(&str, &str, &str, &ValueOf); 3] = [
        ("in flight", "#2ca02c", "", &|s| Some(s.pipe)),
        (
            "ssthresh",
            "#ff7f0e",
            r#" stroke-dasharray="6 4""#,
            &ssthresh,
        ),
        ("cwnd", "#1f77b4", "", &|s| Some(s.cwnd)),
    ];
    for (name, color, dash, value) in &series {
        let _ = writeln!(
            s,
            r#"<path class="{}" d="{}" fill="none" stroke="{color}" stroke-width="1.5"{dash}/>"#,
            name.replace(' ', "-"),
            step_line(value).trim()
        );
    }
    // Marks: losses and probes above the plot area's top, retransmissions
    // as ticks on the time axis, undos as triangles.
    for p in points {
        let px = x(p.t);
        match p.sample.mark {
            Some(Mark::Loss { .. }) => {
                let py = y(f64::from(p.sample.cwnd)) - 8.0;
                let _ = writeln!(
                    s,
                    r##"<path class="loss" d="M{:.1},{:.1} l8,8 m0,-8 l-8,8" stroke="#d62728" stroke-width="2"/>"##,
                    px - 4.0,
                    py - 4.0
                );
            }
            Some(Mark::Retransmit { .. }) => {
                let base = TOP + plot_h;
                let _ = writeln!(
                    s,
                    r##"<line class="retransmit" x1="{px:.1}" y1="{:.1}" x2="{px:.1}" y2="{:.1}" stroke="#d62728"/>"##,
                    base - 10.0,
                    base
                );
            }
            Some(Mark::Probe { .. }) => {
                let base = TOP + plot_h;
                let _ = writeln!(
                    s,
                    r##"<line class="probe" x1="{px:.1}" y1="{:.1}" x2="{px:.1}" y2="{:.1}" stroke="#9467bd" stroke-width="2"/>"##,
                    base - 14.0,
                    base
                );
            }
            Some(Mark::Undo) => {
                let py = y(f64::from(p.sample.cwnd));
                let _ = writeln!(
                    s,
                    r##"<path class="undo" d="M{px:.1},{:.1} l5,8 l-10,0 z" fill="#17becf"/>"##,
                    py - 10.0
                );
            }
            Some(Mark::Timeout) | None => {}
        }
    }
    // Legend.
    let legend: [(&str, &str); 7] = [
        ("cwnd", "#1f77b4"),
        ("ssthresh", "#ff7f0e"),
        ("in flight", "#2ca02c"),
        ("loss ×", "#d62728"),
        ("retransmission |", "#d62728"),
        ("probe |", "#9467bd"),
        ("undo ▲", "#17becf"),
    ];
    let mut lx = LEFT + 10.0;
    for (name, color) in legend {
        let _ = writeln!(
            s,
            r#"<rect x="{lx:.1}" y="{:.1}" width="12" height="3" fill="{color}"/><text x="{:.1}" y="{:.1}">{}</text>"#,
            TOP + 6.0,
            lx + 16.0,
            TOP + 11.0,
            escape(name)
        );
        lx += 24.0 + 7.0 * name.chars().count() as f64;
    }
    let states: Vec<&str> = {
        let mut v: Vec<CaState> = Vec::new();
        for p in points {
            if !v.contains(&p.sample.ca_state) {
                v.push(p.sample.ca_state);
            }
        }
        v.into_iter().map(CaState::name).collect()
    };
    let _ = writeln!(
        s,
        r##"<text x="{:.1}" y="{:.1}" text-anchor="end" fill="#666">states seen: {}</text>"##,
        LEFT + plot_w,
        HEIGHT - 20.0,
        escape(&states.join(", "))
    );
    s.push_str("</svg>\n");
    s
}

fn format_seconds(t: f64, step: f64) -> String {
    let places = if step >= 1.0 {
        0
    } else {
        (-step.log10()).ceil() as usize
    };
    format!("{t:.places$}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use synack_proto::SeqNum;

    fn point(t: f64, cwnd: u32, ssthresh: u32, pipe: u32, mark: Option<Mark>) -> Point {
        Point {
            t,
            sample: CongestionSample {
                cwnd,
                ssthresh,
                ca_state: CaState::Open,
                pipe,
                mark,
            },
        }
    }

    fn sample_series() -> Vec<Point> {
        vec![
            point(0.0, 14_480, u32::MAX, 0, None),
            point(0.1, 28_960, u32::MAX, 14_480, None),
            point(
                0.2,
                20_000,
                20_000,
                28_960,
                Some(Mark::Loss { segments: 1 }),
            ),
            point(
                0.2,
                20_000,
                20_000,
                28_960,
                Some(Mark::Retransmit {
                    seq: SeqNum(1000),
                    len: 1448,
                }),
            ),
            point(0.5, 1448, 14_000, 0, Some(Mark::Timeout)),
        ]
    }

    #[test]
    fn csv_has_a_header_and_a_line_per_sample_with_infinite_ssthresh_empty() {
        let text = csv(&sample_series());
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            "time_s,cwnd_bytes,ssthresh_bytes,in_flight_bytes,ca_state,event,seq,len"
        );
        assert_eq!(lines.len(), 6);
        assert_eq!(lines[1], "0.000000,14480,,0,open,,,");
        assert_eq!(lines[3], "0.200000,20000,20000,28960,open,loss,,1");
        assert_eq!(
            lines[4],
            "0.200000,20000,20000,28960,open,retransmit,1000,1448"
        );
        assert_eq!(lines[5], "0.500000,1448,14000,0,open,timeout,,");
    }

    #[test]
    fn the_svg_has_three_lines_marks_axes_and_a_legend() {
        let doc = svg(&sample_series(), "a <test> & its plot");
        assert!(doc.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""));
        assert!(doc.trim_end().ends_with("</svg>"));
        for class in [
            "class=\"cwnd\"",
            "class=\"ssthresh\"",
            "class=\"in-flight\"",
        ] {
            assert_eq!(doc.matches(class).count(), 1, "{class}");
        }
        assert_eq!(doc.matches("class=\"loss\"").count(), 1);
        assert_eq!(doc.matches("class=\"retransmit\"").count(), 1);
        assert_eq!(doc.matches(">RTO</text>").count(), 1);
        assert!(doc.contains(">virtual time (s)</text>"));
        assert!(doc.contains(">bytes</text>"));
        assert!(
            doc.contains("a &lt;test&gt; &amp; its plot"),
            "title escaped"
        );
        assert!(doc.contains(">0.10</text>"), "time ticks every 0.05 s");
        assert!(doc.contains("KiB</text>"), "byte ticks");
        // ssthresh starts only once it is finite.
        let ss = doc
            .lines()
            .find(|l| l.contains("class=\"ssthresh\""))
            .unwrap();
        assert!(ss.contains(" d=\"M"), "{ss}");
        assert_eq!(ss.matches('M').count(), 1);
    }

    #[test]
    fn ticks_are_one_two_or_five_times_a_power_of_ten() {
        assert_eq!(tick_step(10.0, 8.0), 1.0);
        assert_eq!(tick_step(0.9, 8.0), 0.1);
        assert_eq!(tick_step(300_000.0, 6.0), 50_000.0);
        assert_eq!(tick_step(17.0, 8.0), 2.0);
    }
}
