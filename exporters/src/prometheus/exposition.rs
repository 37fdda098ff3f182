//! The Prometheus text exposition (format 0.0.4) of the shared series store.

use std::fmt::Write;

use sentinel_pipeline::prometheus::{format_float, Labels, Store};

/// Renders every family of the store, series sorted by labels.
pub fn render(store: &Store) -> String {
    let mut out = String::new();
    for (name, family) in store.families() {
        if !family.help.is_empty() {
            let _ = writeln!(
                out,
                "# HELP {name} {}",
                family.help.replace('\\', "\\\\").replace('\n', "\\n")
            );
        }
        let _ = writeln!(out, "# TYPE {name} {}", family.kind.as_str());
        let mut series: Vec<_> = family.series.iter().collect();
        series.sort_by(|a, b| a.0.cmp(b.0));
        for (labels, s) in series {
            s.value.for_each_sample(name, |sample| {
                line(
                    &mut out,
                    sample.name,
                    labels,
                    sample.extra_label,
                    sample.value,
                )
            });
        }
    }
    out
}

fn line(out: &mut String, name: &str, labels: &Labels, extra: Option<(&str, &str)>, value: f64) {
    out.push_str(name);
    if !labels.is_empty() || extra.is_some() {
        out.push('{');
        let mut first = true;
        for (k, v) in labels
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .chain(extra)
        {
            if !first {
                out.push(',');
            }
            first = false;
            let escaped = v
                .replace('\\', "\\\\")
                .replace('"', "\\\"")
                .replace('\n', "\\n");
            let _ = write!(out, "{k}=\"{escaped}\"");
        }
        out.push('}');
    }
    let _ = writeln!(out, " {}", format_float(value));
}
