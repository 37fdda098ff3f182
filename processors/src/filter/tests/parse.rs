//! The condition language: what parses in which context, what does not and why, and how
//! a parsed condition evaluates.

use sentinel_pipeline::otlp::common::v1::{any_value, AnyValue, KeyValue};

use crate::filter::condition::{
    Condition, Context, DataPointContext, EvalError, Item, LogRecordContext, MetricContext,
    SpanContext,
};
use crate::test_data::kv;

fn error<C: Context>(text: &str) -> String {
    match Condition::<C>::parse(text) {
        Ok(_) => panic!("{text} parsed"),
        Err(err) => err.to_string(),
    }
}

fn typed(key: &str, value: any_value::Value) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue { value: Some(value) }),
        ..Default::default()
    }
}

fn matches<C: Context>(text: &str, item: &Item) -> Result<bool, EvalError> {
    Condition::<C>::parse(text)
        .unwrap_or_else(|err| panic!("{err}"))
        .matches(item)
}

#[test]
fn each_context_accepts_its_paths() {
    let span = [
        r#"name == "GET /""#,
        r#"attributes["http.route"] != "/""#,
        r#"resource.attributes["service.name"] == "shop""#,
        r#"IsMatch(name, "^GET ")"#,
        r#"  IsMatch ( attributes["k"] , "v" )  "#,
        r#"attributes["code"] == -1"#,
        r#"attributes["ratio"] == 0.5"#,
        r#"attributes["big"] == 1e3"#,
        r#"attributes["on"] == false"#,
        r#"attributes["gone"] == nil"#,
    ];
    for text in span {
        Condition::<SpanContext>::parse(text).unwrap_or_else(|err| panic!("{err}"));
    }
    Condition::<LogRecordContext>::parse(r#"attributes["level"] == "debug""#).unwrap();
    Condition::<MetricContext>::parse(r#"IsMatch(name, "^jvm\\.")"#).unwrap();
    Condition::<DataPointContext>::parse(r#"metric.name == "x""#).unwrap();
    Condition::<DataPointContext>::parse(r#"attributes["state"] == "idle""#).unwrap();
}

#[test]
fn paths_a_context_lacks_are_refused_with_what_it_offers() {
    assert!(error::<LogRecordContext>(r#"name == "x""#).contains("a log record has no name"));
    assert!(error::<MetricContext>(r#"attributes["a"] == "b""#).contains("metrics.datapoint"));
    assert!(error::<DataPointContext>(r#"name == "x""#).contains("`metric.name`"));
    let unknown = error::<SpanContext>(r#"body == "x""#);
    assert!(
        unknown.contains("unsupported path `body`; here: `name`, `attributes[\"key\"]`"),
        "{unknown}"
    );
}

#[test]
fn malformed_conditions_say_what_is_wrong_and_where() {
    let cases = [
        (
            r#"name = "x""#,
            "`=` is not an operator; write `==` or `!=` (at character 6)",
        ),
        (
            r#"name == "x"#,
            "the string is not closed with `\"` (at character 9)",
        ),
        (
            r#"name == x"#,
            "expected a value (\"text\", a number, true, false or nil), found `x`",
        ),
        (
            r#"name"#,
            "expected `==` or `!=` after name, found the end of the condition",
        ),
        (
            r#"name == "a" and name == "b""#,
            "`and` is not supported: write each alternative",
        ),
        (r#"name == "a" or name == "b""#, "`or` is not supported"),
        (r#"not name == "a""#, "`not` is not supported; use `!=`"),
        (
            r#"Contains(name, "a")"#,
            "unsupported function `Contains`; only IsMatch is",
        ),
        (r#"IsMatch(name, "(")"#, "invalid regular expression"),
        (
            r#"IsMatch(name, 1)"#,
            "the pattern of IsMatch must be a string",
        ),
        (
            r#"IsMatch(name "a")"#,
            "expected `,` after the first argument of IsMatch",
        ),
        (
            r#"IsMatch(name, "a""#,
            "expected `)` closing IsMatch, found the end",
        ),
        (
            r#"attributes == "a""#,
            "expected `[\"key\"]` after `attributes`, found `==`",
        ),
        (
            r#"attributes[1] == "a""#,
            "expected `[\"key\"]` after `attributes`",
        ),
        (r#"name == "a" "b""#, "unexpected \"b\" after the condition"),
        (r#"name < "a""#, "unexpected `<` (at character 6)"),
        (r#"name == 1.2.3"#, "`1.2.3` is not a number"),
        (r#"IsMatch(name, "a\.b")"#, "unsupported escape `\\.`"),
        ("", "expected a path"),
    ];
    for (text, expected) in cases {
        let message = error::<SpanContext>(text);
        assert!(message.contains(expected), "{text}: {message}");
    }
}

#[test]
fn strings_unescape_like_ottl() {
    let item = Item {
        name: r#"say "hi"\now"#,
        attributes: &[],
        resource: &[],
    };
    assert_eq!(
        matches::<SpanContext>(r#"name == "say \"hi\"\\now""#, &item),
        Ok(true)
    );
    assert_eq!(
        matches::<SpanContext>(r#"IsMatch(name, "\\\\n")"#, &item),
        Ok(true)
    );
}

#[test]
fn is_match_reads_strings_booleans_and_numbers_and_fails_on_the_rest() {
    use any_value::Value as V;
    let attributes = [
        typed("flag", V::BoolValue(true)),
        typed("code", V::IntValue(503)),
        typed("ratio", V::DoubleValue(0.25)),
        typed("blob", V::BytesValue(vec![1, 2])),
        kv("text", "abc"),
    ];
    let item = Item {
        name: "",
        attributes: &attributes,
        resource: &[],
    };
    let is_match = |text: &str| matches::<LogRecordContext>(text, &item);
    assert_eq!(
        is_match(r#"IsMatch(attributes["flag"], "^true$")"#),
        Ok(true)
    );
    assert_eq!(
        is_match(r#"IsMatch(attributes["code"], "^5\\d\\d$")"#),
        Ok(true)
    );
    assert_eq!(
        is_match(r#"IsMatch(attributes["ratio"], "^0\\.25$")"#),
        Ok(true)
    );
    assert_eq!(
        is_match(r#"IsMatch(attributes["text"], "b")"#),
        Ok(true),
        "anywhere"
    );
    assert_eq!(
        is_match(r#"IsMatch(attributes["absent"], ".*")"#),
        Ok(false)
    );
    let failure = is_match(r#"IsMatch(attributes["blob"], "x")"#).unwrap_err();
    assert!(
        failure
            .to_string()
            .contains("bytes value of attributes[\"blob\"]"),
        "{failure}"
    );
}

#[test]
fn numbers_compare_across_integer_and_double() {
    use any_value::Value as V;
    let attributes = [typed("n", V::IntValue(3)), typed("d", V::DoubleValue(3.0))];
    let item = Item {
        name: "",
        attributes: &attributes,
        resource: &[],
    };
    for text in [
        r#"attributes["n"] == 3"#,
        r#"attributes["n"] == 3.0"#,
        r#"attributes["d"] == 3"#,
        r#"attributes["d"] != "3""#,
        r#"attributes["n"] != nil"#,
    ] {
        assert_eq!(matches::<LogRecordContext>(text, &item), Ok(true), "{text}");
    }
}
