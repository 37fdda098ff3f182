use super::*;

fn tokens(input: u64, output: u64, cache_read: u64, cache_creation: u64) -> Tokens {
    Tokens {
        input,
        output,
        cache_read,
        cache_creation,
    }
}

/// Today, as the shipped table has no dated periods.
const NOW: u64 = 1_780_000_000_000_000_000;

fn femto(table: &PriceTable, model: &str, t: Tokens) -> u128 {
    match table.price(model, &t, NOW) {
        Priced::Cost { femto_usd, .. } => femto_usd,
        other => panic!("{model} not priced: {other:?}"),
    }
}

#[test]
fn the_issue_check_sonnet_4_5_thousand_in_five_hundred_out_is_exactly_0_0105() {
    let table = PriceTable::shipped();
    let cost = femto(&table, "claude-sonnet-4-5", tokens(1_000, 500, 0, 0));
    assert_eq!(cost, 10_500_000_000_000, "femto-dollars");
    assert_eq!(femto_to_usd(cost), 0.0105);
    assert_eq!(cost * 1_000_000 / FEMTO_PER_USD, 10_500, "micro-dollars");
}

#[test]
fn claude_and_gpt_models_cost_exactly_what_the_table_says() {
    let table = PriceTable::shipped();
    // haiku-4-5: $1 in, $5 out per million.
    assert_eq!(
        femto(&table, "claude-haiku-4-5", tokens(2_000, 1_000, 0, 0)),
        7_000_000_000_000
    );
    // opus-4-1: $15 / $75.
    assert_eq!(
        femto_to_usd(femto(
            &table,
            "claude-opus-4-1",
            tokens(10_000, 1_000, 0, 0)
        )),
        0.225
    );
    // gpt-4o: $2.5 in, $10 out, $1.25 cached input.
    assert_eq!(
        femto_to_usd(femto(&table, "gpt-4o", tokens(10_000, 2_000, 4_000, 0))),
        0.05
    );
    // gpt-5.5: $5 / $30.
    assert_eq!(
        femto_to_usd(femto(&table, "gpt-5.5", tokens(1_000, 1_000, 0, 0))),
        0.035
    );
    // gpt-5-mini has sub-cent per-million rates: 0.025 $/M cache read is exact.
    assert_eq!(
        femto(&table, "gpt-5-mini", tokens(0, 0, 1_000_000, 0)),
        25_000_000_000_000
    );
}

#[test]
fn cache_reads_and_writes_use_their_own_rates() {
    let table = PriceTable::shipped();
    // 100 × $3 + 300 × $15 + 10,000 × $0.30 + 2,000 × $3.75 per million.
    let cost = femto(&table, "claude-sonnet-4-5", tokens(100, 300, 10_000, 2_000));
    assert_eq!(cost, 15_300_000_000_000);
    assert_eq!(femto_to_usd(cost), 0.0153);
    // OpenAI has no cache-write price: writes are billed as input.
    assert_eq!(
        femto(&table, "gpt-4o", tokens(0, 0, 0, 1_000)),
        femto(&table, "gpt-4o", tokens(1_000, 0, 0, 0))
    );
}

#[test]
fn a_prompt_above_the_tier_threshold_bills_the_whole_call_at_tier_rates() {
    let table = PriceTable::shipped();
    // 150k input + 60k cache read = 210k > 200k: $6 in, $0.60 cache read, $22.50 out.
    let cost = femto(
        &table,
        "claude-sonnet-4-5",
        tokens(150_000, 1_000, 60_000, 0),
    );
    assert_eq!(femto_to_usd(cost), 0.9585);
    // Exactly 200k is not above: base rates.
    let at = femto(&table, "claude-sonnet-4-5", tokens(200_000, 0, 0, 0));
    assert_eq!(femto_to_usd(at), 0.6);
    // gpt-5.5 above 272k: $10 in, $45 out.
    let big = femto(&table, "gpt-5.5", tokens(300_000, 1_000, 0, 0));
    assert_eq!(femto_to_usd(big), 3.045);
}

#[test]
fn dated_prefixed_and_aliased_ids_find_their_model() {
    let table = PriceTable::shipped();
    for id in [
        "claude-sonnet-4-5-20250929",
        "anthropic/claude-sonnet-4-5",
        "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
        "claude-sonnet-4-5@20250929",
        "Claude-Sonnet-4.5",
    ] {
        assert_eq!(
            table.find(id).map(|m| m.name.as_str()),
            Some("claude-sonnet-4-5"),
            "{id}"
        );
    }
    assert_eq!(
        table.find("gpt-4o-2024-08-06").map(|m| m.name.as_str()),
        Some("gpt-4o"),
        "an OpenAI dated snapshot falls back to its base id"
    );
    assert_eq!(
        table.find("gpt-4o-mini").map(|m| m.name.as_str()),
        Some("gpt-4o-mini"),
        "exact names win over shorter ones"
    );
}

#[test]
fn unknown_models_are_not_priced_at_zero() {
    let table = PriceTable::shipped();
    for id in ["llama-3-70b", "", "claude-sonnet-9", "gpt-4o-turbo-ultra"] {
        assert_eq!(
            table.price(id, &tokens(1_000, 1_000, 0, 0), NOW),
            Priced::UnknownModel,
            "{id:?}"
        );
    }
}

const DATED: &str = r#"
models:
  - name: acme-1
    provider: acme
    prices:
      - effective_from: 2025-01-01
        input: 4
        output: 8
      - effective_from: "2025-07-01"
        input: 2
        output: 4
"#;

#[test]
fn effective_from_picks_the_period_in_force_at_the_call_time() {
    let table = yaml::parse("dated.yaml", DATED).unwrap();
    let day = |date: &str| parse_date(date).unwrap();
    let t = tokens(1_000_000, 0, 0, 0);
    assert_eq!(
        table.price("acme-1", &t, day("2024-12-31")),
        Priced::NoPriceInForce {
            model: "acme-1".into()
        }
    );
    let cost = |time| match table.price("acme-1", &t, time) {
        Priced::Cost { femto_usd, .. } => femto_to_usd(femto_usd),
        other => panic!("{other:?}"),
    };
    assert_eq!(cost(day("2025-01-01")), 4.0);
    assert_eq!(cost(day("2025-07-01") - 1), 4.0);
    assert_eq!(cost(day("2025-07-01")), 2.0);
    assert_eq!(cost(day("2026-03-15")), 2.0);
}

#[test]
fn dates_are_utc_midnight() {
    assert_eq!(parse_date("1970-01-01").unwrap(), 0);
    assert_eq!(
        parse_date("2025-09-29").unwrap(),
        1_759_104_000 * 1_000_000_000
    );
    assert_eq!(
        parse_date("2024-02-29").unwrap(),
        1_709_164_800 * 1_000_000_000
    );
    for bad in ["2025-13-01", "25-01-01", "2025-1-1", "yesterday"] {
        assert!(parse_date(bad).is_err(), "{bad}");
    }
}

#[test]
fn bad_price_files_are_refused_with_the_place() {
    let err = yaml::parse(
        "p.yaml",
        "models:\n  - name: x\n    prices:\n      - input: 1\n        outptu: 2\n",
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("p.yaml:5:9") && err.contains("outptu"),
        "{err}"
    );
    let err = yaml::parse(
        "p.yaml",
        "models:\n  - name: x\n    prices:\n      - input: -1\n        output: 2\n",
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("not a non-negative number"), "{err}");
    let err = yaml::parse(
        "p.yaml",
        "models:\n  - name: x\n    prices:\n      - effective_from: 2025-02-30x\n        input: 1\n        output: 2\n",
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("invalid date"), "{err}");
    let err = PriceTable::load(Some("/nonexistent/prices.yaml"), None)
        .unwrap_err()
        .to_string();
    assert!(err.contains("/nonexistent/prices.yaml"), "{err}");
}

#[test]
fn globs_match_anywhere_a_star_allows() {
    assert!(glob_match("claude-*", "claude-x"));
    assert!(glob_match(
        "*.claude-sonnet-4-5-*",
        "eu.anthropic.claude-sonnet-4-5-2025-v1:0"
    ));
    assert!(glob_match("a*b*c", "abc"));
    assert!(glob_match("a*b*c", "axxbyyc"));
    assert!(!glob_match("a*b*c", "axxbyy"));
    assert!(!glob_match("abc", "abcd"));
    assert!(glob_match("abc", "abc"));
    assert!(!glob_match("*ab*ba", "aba"), "parts may not overlap");
}

#[test]
fn yaml_entries_win_over_litellm_entries_with_the_same_name() {
    let mut table = yaml::parse("dated.yaml", DATED).unwrap();
    let loaded = litellm::parse(
        r#"{"sample_spec": {"input_cost_per_token": 0},
            "acme-1": {"input_cost_per_token": 1e-06, "output_cost_per_token": 2e-06},
            "acme-2": {"input_cost_per_token": 1e-06, "output_cost_per_token": 2e-06,
                       "input_cost_per_token_above_128k_tokens": 3e-06,
                       "cache_creation_input_token_cost_above_1hr": 9e-06,
                       "litellm_provider": "acme"},
            "dall-e": {"input_cost_per_pixel": 1e-08}}"#,
    )
    .unwrap();
    assert_eq!(loaded.skipped, 1, "the image model has no token prices");
    table.extend(loaded.models);
    let t = tokens(1_000_000, 0, 0, 0);
    let usd = |model: &str, t: &Tokens| match table.price(model, t, NOW) {
        Priced::Cost { femto_usd, .. } => femto_to_usd(femto_usd),
        other => panic!("{other:?}"),
    };
    assert_eq!(usd("acme-1", &t), 2.0, "the YAML price, not LiteLLM's $1");
    assert_eq!(usd("acme-2", &tokens(100_000, 0, 0, 0)), 0.1);
    assert_eq!(usd("acme-2", &tokens(128_001, 0, 0, 0)), 0.384003, "tier");
    let err =
        litellm::parse(r#"{"m": {"input_cost_per_token": "cheap", "output_cost_per_token": 1}}"#)
            .unwrap_err()
            .to_string();
    assert!(err.contains("input_cost_per_token"), "{err}");
}

#[test]
fn litellm_bundled_price_file_loads_with_the_same_figures() {
    let path = bundled_litellm_prices();
    let text = std::fs::read_to_string(&path).unwrap();
    let raw: serde_json::Value = serde_json::from_str(&text).unwrap();
    let loaded = litellm::load(path.to_str().unwrap()).unwrap();
    assert!(
        loaded.models.len() > 1_000,
        "{} models",
        loaded.models.len()
    );
    let mut table = PriceTable::default();
    table.extend(loaded.models);
    let per_token = |model: &str, field: &str| -> u64 {
        let v = raw[model][field]
            .as_f64()
            .unwrap_or_else(|| panic!("{model}.{field} in {}", path.display()));
        (v * 1e15).round() as u64
    };
    for model in [
        "claude-sonnet-4-5",
        "claude-haiku-4-5",
        "claude-opus-4-1",
        "gpt-4o",
        "gpt-5.4",
    ] {
        let entry = table
            .find(model)
            .unwrap_or_else(|| panic!("{model} loaded"));
        let base = entry.periods[0].base;
        assert_eq!(
            base.input,
            Some(per_token(model, "input_cost_per_token")),
            "{model}"
        );
        assert_eq!(
            base.output,
            Some(per_token(model, "output_cost_per_token")),
            "{model}"
        );
        assert_eq!(
            base.cache_read,
            Some(per_token(model, "cache_read_input_token_cost")),
            "{model}"
        );
    }
    // The reference figures (USD per token) as femto-dollars.
    let sonnet = table.find("claude-sonnet-4-5").unwrap();
    assert_eq!(sonnet.provider.as_deref(), Some("anthropic"));
    let period = &sonnet.periods[0];
    assert_eq!(period.base.input, Some(3_000_000_000)); // 3e-06
    assert_eq!(period.base.output, Some(15_000_000_000)); // 1.5e-05
    assert_eq!(period.base.cache_read, Some(300_000_000)); // 3e-07
    assert_eq!(period.base.cache_write, Some(3_750_000_000)); // 3.75e-06
    assert_eq!(
        period.tiers.len(),
        1,
        "only the 200k token tier, not `_above_1hr`"
    );
    assert_eq!(period.tiers[0].above_input_tokens, 200_000);
    assert_eq!(period.tiers[0].rates.input, Some(6_000_000_000));
    assert_eq!(period.tiers[0].rates.output, Some(22_500_000_000));
    // The issue's check holds with LiteLLM's figures too.
    assert_eq!(
        table.price("claude-sonnet-4-5", &tokens(1_000, 500, 0, 0), NOW),
        Priced::Cost {
            femto_usd: 10_500_000_000_000,
            model: "claude-sonnet-4-5".into(),
            provider: Some("anthropic".into())
        }
    );
    let gpt = &table.find("gpt-5.4").unwrap().periods[0];
    assert_eq!(gpt.tiers[0].above_input_tokens, 272_000);
}

/// LiteLLM's bundled price map, found through the installed Python package (the test
/// command installs `litellm` from tests/python/requirements.txt).
fn bundled_litellm_prices() -> std::path::PathBuf {
    let output = std::process::Command::new("python3")
        .args([
            "-c",
            // Locates the package without importing it: importing litellm fetches a
            // price map from the internet, and tests never leave loopback.
            "import importlib.util; print(list(importlib.util.find_spec('litellm').submodule_search_locations)[0])",
        ])
        .env("LITELLM_LOCAL_MODEL_COST_MAP", "True")
        .output()
        .expect("python3 runs (tests/run-all.sh installs it)");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let dir = stdout.lines().last().unwrap_or("").trim();
    assert!(
        output.status.success() && !dir.is_empty(),
        "litellm is not installed: pip install -r tests/python/requirements.txt\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    std::path::Path::new(dir).join("model_prices_and_context_window_backup.json")
}
