//! The Grafana dashboard and the Prometheus rules only query series Vigil
//! exports: the JSON parses, every query names at least one Vigil series and
//! every name it uses is in the export catalog (or is a recording rule from
//! deploy/prometheus). `promtool check rules` runs when installed (required
//! under CI).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde_json::Value;
use vigil_export::catalog::family_names;
use vigil_testkit::promtool;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn dashboards() -> Vec<(PathBuf, Value)> {
    let dir = repo().join("deploy/grafana");
    let mut out = Vec::new();
    for entry in std::fs::read_dir(&dir).expect("deploy/grafana exists") {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "json") {
            let text = std::fs::read_to_string(&path).unwrap();
            let json: Value = serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("{} does not parse: {e}", path.display()));
            out.push((path, json));
        }
    }
    assert!(!out.is_empty(), "no dashboard in {}", dir.display());
    out
}

fn rules_files() -> Vec<PathBuf> {
    let dir = repo().join("deploy/prometheus");
    let files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("deploy/prometheus exists")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yml" || e == "yaml"))
        .collect();
    assert!(!files.is_empty());
    files
}

fn rules(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap();
    serde_saphyr::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Every string under a key named `key`, anywhere in `v`.
fn strings_at(v: &Value, key: &str, out: &mut Vec<String>) {
    match v {
        Value::Object(map) => {
            for (k, child) in map {
                if k == key
                    && let Value::String(s) = child
                {
                    out.push(s.clone());
                }
                strings_at(child, key, out);
            }
        }
        Value::Array(items) => items.iter().for_each(|c| strings_at(c, key, out)),
        _ => {}
    }
}

/// Identifiers of a PromQL expression that name Vigil series or recording
/// rules (`vigil_…`, `vigil:…`), skipping quoted strings.
fn vigil_names(expr: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut chars = expr.chars().peekable();
    let mut word = String::new();
    let mut quote: Option<char> = None;
    while let Some(c) = chars.next() {
        if let Some(q) = quote {
            if c == q {
                quote = None;
            }
            continue;
        }
        if c == '"' || c == '\'' || c == '`' {
            quote = Some(c);
            continue;
        }
        if c.is_ascii_alphanumeric() || c == '_' || c == ':' {
            word.push(c);
            if chars
                .peek()
                .is_some_and(|n| n.is_ascii_alphanumeric() || *n == '_' || *n == ':')
            {
                continue;
            }
        }
        if word.starts_with("vigil_") || word.starts_with("vigil:") {
            names.push(word.clone());
        }
        word.clear();
    }
    names
}

fn recorded() -> BTreeSet<String> {
    let mut out = Vec::new();
    for f in rules_files() {
        strings_at(&rules(&f), "record", &mut out);
    }
    out.into_iter().collect()
}

fn check_exprs(origin: &str, exprs: &[String]) {
    let exported: BTreeSet<&str> = family_names().collect();
    let recorded = recorded();
    assert!(!exprs.is_empty(), "{origin}: no queries found");
    for expr in exprs {
        let names = vigil_names(expr);
        assert!(
            !names.is_empty(),
            "{origin}: `{expr}` queries no Vigil series"
        );
        for name in names {
            assert!(
                exported.contains(name.as_str()) || recorded.contains(&name),
                "{origin}: `{expr}` uses `{name}`, which Vigil does not export"
            );
        }
    }
}

#[test]
fn the_name_scanner_finds_series_and_skips_strings() {
    assert_eq!(
        vigil_names(r#"sum by (side) (vigil_faults_open{kind="vigil_x"}) / vigil:a:b"#),
        vec!["vigil_faults_open", "vigil:a:b"]
    );
    assert!(vigil_names("up == 1").is_empty());
}

#[test]
fn dashboards_query_only_exported_series_and_cover_the_views() {
    for (path, json) in dashboards() {
        let origin = path.display().to_string();
        let mut exprs = Vec::new();
        strings_at(&json, "expr", &mut exprs);
        strings_at(&json, "definition", &mut exprs);
        check_exprs(&origin, &exprs);
        let all = exprs.join("\n");
        for needed in [
            "vigil_overall_score",
            "vigil_layer_score",
            "vigil_node_state",
            "vigil_faults_open",
            "vigil_vantage_success_ratio",
        ] {
            assert!(all.contains(needed), "{origin}: no panel queries {needed}");
        }
        let titles: Vec<String> = json["panels"]
            .as_array()
            .expect("panels")
            .iter()
            .map(|p| p["title"].as_str().unwrap_or_default().to_string())
            .collect();
        assert!(
            titles.iter().any(|t| t.contains("Health tree")),
            "{titles:?}"
        );
        assert!(
            titles.iter().any(|t| t.contains("reachability")),
            "{titles:?}"
        );
    }
}

#[test]
fn prometheus_rules_query_only_exported_series() {
    for path in rules_files() {
        let origin = path.display().to_string();
        let mut exprs = Vec::new();
        strings_at(&rules(&path), "expr", &mut exprs);
        check_exprs(&origin, &exprs);
        promtool::check_rules(&path);
    }
}

#[test]
fn the_observability_example_config_parses() {
    let path = repo().join("deploy/examples/aggregator-observability.yaml");
    let config = vigil_aggregator::AggregatorConfig::load(&path).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(config.alerts.receivers.len(), 3);
    assert_eq!(config.alerts.routes.len(), 2);
    let otlp = config
        .export
        .otlp_settings(&|_| None)
        .unwrap()
        .expect("otlp on in the example");
    assert_eq!(otlp.endpoint, "http://127.0.0.1:4317");
    assert_eq!(otlp.resource["deployment.environment"], "prod");
}
