//! The project's NAB scorer (`sentinel_tests::nab`) against NAB's own fixed points: the null
//! detector scores 0 and the perfect detector 100 under every profile, a late detection is
//! worth less than an early one, a false positive costs its profile's weight; and, where
//! NAB's published outputs are on disk, their optimal-threshold scores are the published
//! ones (within 0.1).

use std::path::PathBuf;

use sentinel_tests::nab::{read_column, read_windows, Scored, LOW_FN, LOW_FP, PROFILES, STANDARD};

/// A synthetic file of `n` rows, one timestamp per minute.
fn timestamps(n: usize) -> Vec<String> {
    (0..n)
        .map(|i| {
            format!(
                "2026-01-{:02} {:02}:{:02}:00",
                1 + i / 1440,
                i / 60 % 24,
                i % 60
            )
        })
        .collect()
}

/// A file's timestamps and its windows as (first row, last row).
type File = (Vec<String>, Vec<(usize, usize)>);

/// Two files: 2000 rows with windows [800, 899] and [1500, 1599]; 1000 rows with none.
fn corpus() -> Vec<File> {
    vec![
        (timestamps(2000), vec![(800, 899), (1500, 1599)]),
        (timestamps(1000), vec![]),
    ]
}

fn score(detect: impl Fn(usize, usize) -> bool, profile: sentinel_tests::nab::Profile) -> f64 {
    let mut scored = Scored::default();
    for (file, (ts, windows)) in corpus().into_iter().enumerate() {
        let scores: Vec<f64> = (0..ts.len())
            .map(|i| f64::from(u8::from(detect(file, i))))
            .collect();
        let labels: Vec<(String, String)> = windows
            .iter()
            .map(|(a, b)| (format!("{}.000000", ts[*a]), ts[*b].clone()))
            .collect();
        scored.add_file(&ts, &scores, &labels, profile);
    }
    scored.normalize(scored.total_at(0.5, profile), profile)
}

#[test]
fn the_null_detector_scores_zero_and_the_perfect_one_hundred() {
    for profile in PROFILES {
        assert_eq!(score(|_, _| false, profile), 0.0, "{}", profile.name);
        let perfect = |file: usize, i: usize| file == 0 && (i == 800 || i == 1500);
        assert!(
            (score(perfect, profile) - 100.0).abs() < 1e-9,
            "{}",
            profile.name
        );
    }
}

#[test]
fn late_detections_earn_less_and_false_positives_cost_their_weight() {
    let early = score(|f, i| f == 0 && (i == 800 || i == 1500), STANDARD);
    let late = score(|f, i| f == 0 && (i == 890 || i == 1590), STANDARD);
    assert!(late < early && late > 0.0, "early {early}, late {late}");
    // One false positive in the file without windows, before any window: −A_FP raw, i.e.
    // A_FP / (2·windows) × 100 normalised (null −2, perfect +2).
    let perfect = |f: usize, i: usize| f == 0 && (i == 800 || i == 1500);
    let with_fp = |f: usize, i: usize| perfect(f, i) || (f == 1 && i == 500);
    for profile in [STANDARD, LOW_FP, LOW_FN] {
        let span = 2.0 * (profile.tp + profile.fn_);
        let expected = 100.0 - 100.0 * profile.fp / span;
        assert!(
            (score(with_fp, profile) - expected).abs() < 1e-9,
            "{}",
            profile.name
        );
    }
    // Rows in NAB's probation (the first 15%) are not scored at all.
    let in_probation = |f: usize, i: usize| perfect(f, i) || (f == 0 && i == 100);
    assert!((score(in_probation, STANDARD) - 100.0).abs() < 1e-9);
}

/// NAB's data, labels and published results: `NAB_DIR`, by default the shared copy.
fn nab_dir() -> PathBuf {
    std::env::var_os("NAB_DIR").map_or_else(|| PathBuf::from("/work/shared/nab"), PathBuf::from)
}

#[test]
#[ignore = "needs NAB's data and published results (about 28 MB, not in the repo); run with \
            NAB_DIR=/path/to/nab cargo test -p sentinel-tests --test nab_scorer -- --ignored"]
fn the_published_outputs_score_as_published() {
    let nab = nab_dir();
    let windows = read_windows(&nab.join("labels/combined_windows.json")).expect("labels");
    let published = [
        ("numenta", [72.97, 66.62, 76.82]),
        ("windowedGaussian", [44.80, 23.02, 53.58]),
    ];
    for (detector, expected) in published {
        for (profile, expected) in PROFILES.into_iter().zip(expected) {
            let mut scored = Scored::default();
            for (file, labels) in &windows {
                if !nab.join("data").join(file).exists() {
                    continue;
                }
                let (category, name) = file.split_once('/').unwrap();
                let path = nab
                    .join("results")
                    .join(detector)
                    .join(category)
                    .join(format!("{detector}_{name}"));
                let (ts, scores) = read_column(&path, "anomaly_score").expect("result file");
                scored.add_file(&ts, &scores, labels, profile);
            }
            let (_, raw) = scored.sweep(profile);
            let got = scored.normalize(raw, profile);
            assert!(
                (got - expected).abs() < 0.1,
                "{detector} {}: {got:.3}, published {expected}",
                profile.name
            );
        }
    }
}
