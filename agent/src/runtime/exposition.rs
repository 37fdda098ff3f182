//! The admin `/metrics` in the format the scraper asks for: OpenMetrics when the `Accept`
//! header names it (Prometheus asks for it first), else the Prometheus text format 0.0.4,
//! which `curl`, `promtool check metrics` and older scrapers read.

pub const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
pub const TEXT_004: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Whether an `Accept` header asks for OpenMetrics.
pub fn wants_openmetrics(accept: Option<&str>) -> bool {
    accept.is_some_and(|a| a.contains("application/openmetrics-text"))
}

/// Rewrites OpenMetrics text as Prometheus text 0.0.4: a counter family is named by its
/// `_total` samples in HELP and TYPE, `_created` samples, UNIT lines, exemplars and the
/// `# EOF` marker are dropped, and OpenMetrics-only types become their 0.0.4 relatives.
pub fn openmetrics_to_text(openmetrics: &str) -> String {
    let mut out = String::with_capacity(openmetrics.len());
    let mut header: Vec<&str> = Vec::new();
    let mut family_type = "";
    for line in openmetrics.lines() {
        if line == "# EOF" || line.starts_with("# UNIT ") {
            continue;
        }
        if line.starts_with("# HELP ") {
            header.clear();
            header.push(line);
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            family_type = rest.split_whitespace().nth(1).unwrap_or("");
            header.push(line);
            continue;
        }
        if line.starts_with('#') {
            continue;
        }
        let sample_name = line.split(['{', ' ']).next().unwrap_or("");
        if sample_name.ends_with("_created") && family_type != "gauge" {
            continue;
        }
        for head in header.drain(..) {
            out.push_str(&rename_header(head, family_type));
            out.push('\n');
        }
        out.push_str(strip_exemplar(line));
        out.push('\n');
    }
    out
}

/// A HELP or TYPE line with the family name and type 0.0.4 expects.
fn rename_header(line: &str, family_type: &str) -> String {
    let (marker, rest) = line.split_at(7); // "# HELP " or "# TYPE "
    let (name, tail) = rest.split_once(' ').unwrap_or((rest, ""));
    let name = match family_type {
        "counter" if !name.ends_with("_total") => format!("{name}_total"),
        "info" => format!("{name}_info"),
        _ => name.to_string(),
    };
    let tail = if marker == "# TYPE " {
        match family_type {
            "info" | "stateset" => "gauge",
            "gaugehistogram" => "histogram",
            "unknown" => "untyped",
            other => other,
        }
    } else {
        tail
    };
    format!("{marker}{name} {tail}")
}

/// A sample line without its OpenMetrics exemplar (` # {labels} value`).
fn strip_exemplar(line: &str) -> &str {
    match line.find(" # {") {
        Some(at) => &line[..at],
        None => line,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_are_named_by_their_samples_and_openmetrics_only_lines_go() {
        let om = "# HELP req Requests served.\n# TYPE req counter\n# UNIT req requests\nreq_total{a=\"1\"} 3 # {trace_id=\"x\"} 1\nreq_created{a=\"1\"} 1.7e9\n# HELP up Whether up.\n# TYPE up gauge\nup 1\n# HELP build Build.\n# TYPE build info\nbuild_info{v=\"1\"} 1\n# EOF\n";
        assert_eq!(
            openmetrics_to_text(om),
            "# HELP req_total Requests served.\n# TYPE req_total counter\nreq_total{a=\"1\"} 3\n# HELP up Whether up.\n# TYPE up gauge\nup 1\n# HELP build_info Build.\n# TYPE build_info gauge\nbuild_info{v=\"1\"} 1\n"
        );
    }

    #[test]
    fn negotiation_follows_the_accept_header() {
        let prometheus =
            "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5";
        assert!(wants_openmetrics(Some(prometheus)));
        assert!(!wants_openmetrics(Some("*/*")));
        assert!(!wants_openmetrics(None));
    }
}
