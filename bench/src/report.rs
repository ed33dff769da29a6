//! The result tables: rows added as cases finish (each also printed as a
//! progress line), then printed whole and written as markdown.

use std::fmt::Write as _;

/// One line of the main table.
#[derive(Clone, Debug)]
pub struct Row {
    /// What was measured, with its unit.
    pub case: String,
    /// same core / cross core / unpinned.
    pub placement: String,
    /// The NWS figure.
    pub nws: String,
    /// The Redis figure beside it.
    pub redis: String,
    /// NWS divided by Redis (empty when meaningless).
    pub ratio: String,
    /// The target and whether it is met (empty when none).
    pub target: String,
}

/// One line of the profile table: where the CPU went per operation.
#[derive(Clone, Debug)]
pub struct ProfileRow {
    /// Case.
    pub case: String,
    /// Placement.
    pub placement: String,
    /// Server CPU µs per operation: NWS, Redis.
    pub server_cpu_us: (f64, f64),
    /// Client CPU µs per operation: NWS, Redis.
    pub client_cpu_us: (f64, f64),
    /// Server context switches per operation: NWS, Redis.
    pub server_ctx: (f64, f64),
}

/// Everything measured in one run.
#[derive(Default)]
pub struct Report {
    /// The main table.
    pub rows: Vec<Row>,
    /// The profile table.
    pub profile: Vec<ProfileRow>,
    /// Free-text notes printed under the tables.
    pub notes: Vec<String>,
}

/// `12345.6` as `12.3k`, `1234567` as `1.23M`.
pub fn si(x: f64) -> String {
    if !x.is_finite() {
        return "n/a".into();
    }
    if x >= 1e6 {
        format!("{:.2}M", x / 1e6)
    } else if x >= 1e4 {
        format!("{:.1}k", x / 1e3)
    } else if x >= 1e3 {
        format!("{:.2}k", x / 1e3)
    } else if x >= 100.0 {
        format!("{x:.0}")
    } else {
        format!("{x:.1}")
    }
}

/// A ratio as `0.45x`.
pub fn ratio(a: f64, b: f64) -> String {
    if b > 0.0 && a.is_finite() && b.is_finite() {
        format!("{:.2}x", a / b)
    } else {
        String::new()
    }
}

/// `MET` or `MISSED`.
pub fn verdict(ok: bool) -> &'static str {
    if ok { "MET" } else { "MISSED" }
}

impl Report {
    /// Adds a row and prints it as a progress line.
    pub fn add(&mut self, row: Row) {
        println!(
            "  {} [{}]: NWS {} | Redis {}{}{}",
            row.case,
            row.placement,
            row.nws,
            row.redis,
            if row.ratio.is_empty() {
                String::new()
            } else {
                format!(" | NWS/Redis {}", row.ratio)
            },
            if row.target.is_empty() {
                String::new()
            } else {
                format!(" | target {}", row.target)
            }
        );
        self.rows.push(row);
    }

    /// The tables as markdown, columns padded so they read in a terminal.
    pub fn markdown(&self) -> String {
        let mut out = String::new();
        let head = ["case", "placement", "NWS", "Redis", "NWS/Redis", "target"];
        let body: Vec<[String; 6]> = self
            .rows
            .iter()
            .map(|r| {
                [
                    r.case.clone(),
                    r.placement.clone(),
                    r.nws.clone(),
                    r.redis.clone(),
                    r.ratio.clone(),
                    r.target.clone(),
                ]
            })
            .collect();
        table(&mut out, &head, &body);
        if !self.profile.is_empty() {
            out.push('\n');
            let head = [
                "profile (per operation)",
                "placement",
                "server CPU µs NWS",
                "server CPU µs Redis",
                "client CPU µs NWS",
                "client CPU µs Redis",
                "server ctx sw NWS",
                "server ctx sw Redis",
            ];
            let body: Vec<[String; 8]> = self
                .profile
                .iter()
                .map(|p| {
                    [
                        p.case.clone(),
                        p.placement.clone(),
                        format!("{:.1}", p.server_cpu_us.0),
                        format!("{:.1}", p.server_cpu_us.1),
                        format!("{:.1}", p.client_cpu_us.0),
                        format!("{:.1}", p.client_cpu_us.1),
                        format!("{:.2}", p.server_ctx.0),
                        format!("{:.2}", p.server_ctx.1),
                    ]
                })
                .collect();
            table(&mut out, &head, &body);
        }
        if !self.notes.is_empty() {
            out.push('\n');
            for n in &self.notes {
                let _ = writeln!(out, "- {n}");
            }
        }
        out
    }
}

fn table<const N: usize>(out: &mut String, head: &[&str; N], body: &[[String; N]]) {
    let mut w: [usize; N] = head.map(|h| h.chars().count());
    for r in body {
        for (i, c) in r.iter().enumerate() {
            w[i] = w[i].max(c.chars().count());
        }
    }
    let line = |out: &mut String, cells: &[String]| {
        out.push('|');
        for (i, c) in cells.iter().enumerate() {
            let pad = w[i] - c.chars().count();
            let _ = write!(out, " {c}{} |", " ".repeat(pad));
        }
        out.push('\n');
    };
    line(out, &head.map(str::to_owned));
    let rule: Vec<String> = w.iter().map(|n| "-".repeat(*n)).collect();
    line(out, &rule);
    for r in body {
        line(out, r);
    }
}
