//! Number formatting as Go prints it (`%v`, `%.4g`, a small `printf`) and Prometheus's
//! humanize functions, so expanded annotations read exactly as Prometheus writes them.

/// Go's `%g` with `prec` significant digits (`-1`: the shortest that reads back).
pub fn go_g(v: f64, prec: i32) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "+Inf" } else { "-Inf" }.into();
    }
    if v == 0.0 {
        return if v.is_sign_negative() { "-0" } else { "0" }.into();
    }
    // Rust's `{:e}` gives the (shortest or rounded) digits and the decimal exponent.
    let sci = if prec < 0 {
        format!("{v:e}")
    } else {
        format!("{:.*e}", (prec.max(1) - 1) as usize, v)
    };
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let negative = mantissa.starts_with('-');
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let digits = digits.trim_end_matches('0');
    let digits = if digits.is_empty() { "0" } else { digits };
    let eprec = if prec < 0 { 6 } else { prec.max(1) };
    // Go: %e when exp < -4 || exp >= eprec (eprec drops to the digit count when every
    // digit is before the point).
    let nd = digits.len() as i32;
    let eprec = if prec >= 0 && eprec > nd && nd > exp {
        nd
    } else {
        eprec
    };
    let sign = if negative { "-" } else { "" };
    if exp < -4 || exp >= eprec {
        let (first, rest) = digits.split_at(1);
        let dot = if rest.is_empty() {
            String::new()
        } else {
            format!(".{rest}")
        };
        let esign = if exp < 0 { '-' } else { '+' };
        return format!("{sign}{first}{dot}e{esign}{:02}", exp.abs());
    }
    if exp < 0 {
        let zeros = "0".repeat((-exp - 1) as usize);
        return format!("{sign}0.{zeros}{digits}");
    }
    let int_len = (exp + 1) as usize;
    if digits.len() <= int_len {
        format!("{sign}{digits}{}", "0".repeat(int_len - digits.len()))
    } else {
        format!("{sign}{}.{}", &digits[..int_len], &digits[int_len..])
    }
}

/// Go's `%v` of a float64.
pub fn go_float(v: f64) -> String {
    go_g(v, -1)
}

fn scaled(mut v: f64, base: f64, up: &[&str], down: &[&str]) -> String {
    if v == 0.0 || !v.is_finite() {
        return go_g(v, 4);
    }
    let mut prefix = "";
    if v.abs() >= 1.0 {
        for p in up {
            if v.abs() < base {
                break;
            }
            prefix = p;
            v /= base;
        }
    } else {
        for p in down {
            if v.abs() >= 1.0 {
                break;
            }
            prefix = p;
            v *= 1000.0;
        }
    }
    format!("{}{prefix}", go_g(v, 4))
}

const SMALL: [&str; 8] = ["m", "u", "n", "p", "f", "a", "z", "y"];

/// Prometheus `humanize`: SI prefixes, 4 significant digits.
pub fn humanize(v: f64) -> String {
    scaled(v, 1000.0, &["k", "M", "G", "T", "P", "E", "Z", "Y"], &SMALL)
}

/// Prometheus `humanize1024`: binary prefixes (no small units).
pub fn humanize_1024(v: f64) -> String {
    if v.abs() <= 1.0 || !v.is_finite() {
        return go_g(v, 4);
    }
    scaled(
        v,
        1024.0,
        &["ki", "Mi", "Gi", "Ti", "Pi", "Ei", "Zi", "Yi"],
        &[],
    )
}

/// Prometheus `humanizeDuration`: `1d 2h 3m 4s`, `5.5s`, `120ms`.
pub fn humanize_duration(v: f64) -> String {
    if !v.is_finite() {
        return go_g(v, 4);
    }
    if v == 0.0 {
        return format!("{}s", go_g(v, 4));
    }
    if v.abs() >= 1.0 {
        let sign = if v < 0.0 { "-" } else { "" };
        let v = v.abs();
        let d = v as i64;
        let (s, m, h, days) = (d % 60, d / 60 % 60, d / 3600 % 24, d / 86_400);
        return if days != 0 {
            format!("{sign}{days}d {h}h {m}m {s}s")
        } else if h != 0 {
            format!("{sign}{h}h {m}m {s}s")
        } else if m != 0 {
            format!("{sign}{m}m {s}s")
        } else {
            format!("{sign}{}s", go_g(v, 4))
        };
    }
    format!("{}s", scaled(v, 1000.0, &[], &SMALL))
}

/// An argument of [`printf`].
#[derive(Debug, Clone)]
pub enum PrintArg {
    Num(f64),
    Str(String),
}

/// Go's `fmt.Sprintf` for the verbs rule templates use: `%v %s %d %f %e %g %%`, with an
/// optional precision (`%.2f`). Mismatches print Go's `%!verb(...)` markers.
pub fn printf(format: &str, args: &[PrintArg]) -> String {
    let mut out = String::new();
    let mut args = args.iter();
    let mut chars = format.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let mut spec = String::new();
        while let Some(&p) = chars.peek() {
            if p.is_ascii_digit() || p == '.' || p == '-' || p == '+' {
                spec.push(p);
                chars.next();
            } else {
                break;
            }
        }
        let Some(verb) = chars.next() else {
            out.push_str("%!(NOVERB)");
            break;
        };
        if verb == '%' {
            out.push('%');
            continue;
        }
        let precision: Option<usize> = spec.split_once('.').and_then(|(_, p)| p.parse().ok());
        let Some(arg) = args.next() else {
            out.push_str(&format!("%!{verb}(MISSING)"));
            continue;
        };
        out.push_str(&print_one(verb, precision, arg));
    }
    out
}

fn print_one(verb: char, precision: Option<usize>, arg: &PrintArg) -> String {
    match (verb, arg) {
        ('s' | 'v', PrintArg::Str(s)) => s.clone(),
        ('v', PrintArg::Num(n)) => go_float(*n),
        ('f' | 'F', PrintArg::Num(n)) => format!("{:.*}", precision.unwrap_or(6), n),
        ('e', PrintArg::Num(n)) => {
            let s = format!("{:.*e}", precision.unwrap_or(6), n);
            let (m, e) = s.split_once('e').unwrap_or((&s, "0"));
            let e: i32 = e.parse().unwrap_or(0);
            format!("{m}e{}{:02}", if e < 0 { '-' } else { '+' }, e.abs())
        }
        ('g', PrintArg::Num(n)) => go_g(*n, precision.map_or(-1, |p| p as i32)),
        ('d', PrintArg::Num(n)) if n.fract() == 0.0 => format!("{}", *n as i64),
        (verb, PrintArg::Num(n)) => format!("%!{verb}(float64={})", go_float(*n)),
        (verb, PrintArg::Str(s)) => format!("%!{verb}(string={s})"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prints_floats_as_go_does() {
        for (v, want) in [
            (1.5, "1.5"),
            (1e6, "1e+06"),
            (123456.0, "123456"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (-2.25, "-2.25"),
            (f64::NAN, "NaN"),
        ] {
            assert_eq!(go_float(v), want, "{v}");
        }
        assert_eq!(go_g(1234.5678, 4), "1235");
        assert_eq!(go_g(12345.0, 4), "1.234e+04");
        assert_eq!(go_g(100.0, 4), "100");
        assert_eq!(go_g(0.5, 4), "0.5");
    }

    #[test]
    fn humanizes_as_prometheus_does() {
        assert_eq!(humanize(1234567.0), "1.235M");
        assert_eq!(humanize(0.0012), "1.2m");
        assert_eq!(humanize(0.0), "0");
        assert_eq!(humanize(999.0), "999");
        assert_eq!(humanize_1024(1048576.0), "1Mi");
        assert_eq!(humanize_duration(90061.0), "1d 1h 1m 1s");
        assert_eq!(humanize_duration(5.5), "5.5s");
        assert_eq!(humanize_duration(0.12), "120ms");
        assert_eq!(humanize_duration(0.0), "0s");
        assert_eq!(
            printf(
                "%.2f%% of %s",
                &[PrintArg::Num(12.346), PrintArg::Str("x".into())]
            ),
            "12.35% of x"
        );
        assert_eq!(printf("%d", &[PrintArg::Num(3.0)]), "3");
    }
}
