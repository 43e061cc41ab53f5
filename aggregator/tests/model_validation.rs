//! Every class of model and config error is refused with a message naming
//! the file, the node/field and the fix; every shipped example parses.

use std::path::{Path, PathBuf};

use vigil_aggregator::{AggregatorConfig, ConfigError};
use vigil_model::Model;
use vigil_model::ModelError;
use vigil_model::{ModelProblem, NodeRole, RollUp, UNMODELLED_ID};

const GOOD: &str = r#"
nodes:
  - id: root
    children: [platform, app]
  - id: platform
    layer: platform_hub
    children: [hub-dns]
  - id: hub-dns
    layer: platform_hub
    select: { kind: dns, component: hub-dns }
  - id: app
    layer: workload_application
    depends_on: [hub-dns]
    select: { component: api }
"#;

fn refused(yaml: &str) -> ModelError {
    Model::from_yaml(yaml, "bad-model.yaml").expect_err("model must be refused")
}

fn assert_problem(yaml: &str, want: ModelProblem, mentions: &[&str]) {
    let err = refused(yaml);
    assert_eq!(err.problem(), Some(want), "{err}");
    let text = err.to_string();
    assert!(text.contains("bad-model.yaml"), "names the file: {text}");
    assert!(text.contains("fix:"), "says how to fix: {text}");
    for m in mentions {
        assert!(text.contains(m), "mentions {m:?}: {text}");
    }
}

#[test]
fn a_good_model_loads_with_defaults_and_an_unmodelled_leaf() {
    let m = Model::from_yaml(GOOD, "good.yaml").unwrap();
    let root = m.node(m.root());
    assert_eq!(root.id, "root");
    assert!(matches!(root.role, NodeRole::Group(RollUp::WorstOf)));
    let order: Vec<&str> = m.order().iter().map(|ix| m.node(*ix).id.as_str()).collect();
    assert_eq!(order, ["root", "platform", "hub-dns", "app", UNMODELLED_ID]);
    let hub = m.node(m.find("hub-dns").unwrap());
    assert_eq!(hub.owner, vigil_proto::v1::Side::Platform);
    assert_eq!(hub.thresholds.unhealthy_failure_ratio, 0.25);
    assert_eq!(
        m.path(m.find("hub-dns").unwrap()),
        ["root", "platform", "hub-dns"]
    );
    let app = m.node(m.find("app").unwrap());
    assert_eq!(app.owner, vigil_proto::v1::Side::Workload);
}

#[test]
fn children_cycle_is_refused() {
    assert_problem(
        r#"
nodes:
  - id: root
    children: [a]
  - id: a
    children: [b]
  - id: b
    children: [a2]
  - id: a2
    children: [b2]
  - id: b2
    children: [a2]
"#,
        // b lists a2 and b2 lists a2: a2 would have two parents.
        ModelProblem::MultipleParents,
        &["a2"],
    );
    assert_problem(
        r#"
nodes:
  - id: root
    children: [leaf]
  - id: leaf
    select: { component: x }
  - id: a
    children: [b]
  - id: b
    children: [a]
"#,
        ModelProblem::Cycle,
        &["cycle", "a -> b -> a"],
    );
}

#[test]
fn depends_on_cycle_is_refused() {
    assert_problem(
        r#"
nodes:
  - id: root
    children: [x, y]
  - id: x
    depends_on: [y]
    select: { component: x }
  - id: y
    depends_on: [x]
    select: { component: y }
"#,
        ModelProblem::Cycle,
        &["depends_on", "x -> y -> x"],
    );
}

#[test]
fn unknown_ids_are_refused() {
    assert_problem(
        &GOOD.replace("depends_on: [hub-dns]", "depends_on: [hub-dsn]"),
        ModelProblem::UnknownId,
        &["node `app` field `depends_on`", "hub-dsn"],
    );
    assert_problem(
        &GOOD.replace("children: [hub-dns]", "children: [nope]"),
        ModelProblem::UnknownId,
        &["nope"],
    );
}

#[test]
fn duplicate_and_reserved_ids_are_refused() {
    let dup = format!("{GOOD}  - id: app\n    select: {{ component: other }}\n");
    assert_problem(&dup, ModelProblem::DuplicateId, &["`app`"]);
    let reserved = GOOD
        .replace("id: app", "id: unmodelled")
        .replace("[platform, app]", "[platform, unmodelled]");
    assert_problem(&reserved, ModelProblem::DuplicateId, &["reserved"]);
}

#[test]
fn roots_must_be_exactly_one() {
    let two = format!("{GOOD}  - id: stray\n    select: {{ component: s }}\n");
    assert_problem(&two, ModelProblem::MultipleRoots, &["`root`", "`stray`"]);
    assert_problem(
        r#"
nodes:
  - id: a
    children: [b]
  - id: b
    children: [a]
"#,
        ModelProblem::Cycle,
        &["a -> b -> a"],
    );
    assert_problem("nodes: []\n", ModelProblem::NoRoot, &["nodes"]);
}

#[test]
fn leaf_shape_is_enforced() {
    assert_problem(
        &GOOD.replace(
            "children: [hub-dns]",
            "children: [hub-dns]\n    select: { component: p }",
        ),
        ModelProblem::LeafShape,
        &["both `select` and `children`"],
    );
    assert_problem(
        &format!("{GOOD}  - id: empty\n"),
        ModelProblem::LeafShape,
        &["neither"],
    );
}

#[test]
fn selectors_that_cannot_match_are_refused() {
    assert_problem(
        &GOOD.replace("select: { component: api }", "select: {}"),
        ModelProblem::EmptySelector,
        &["node `app` field `select`"],
    );
    assert_problem(
        &GOOD.replace("kind: dns,", "kind: dnss,"),
        ModelProblem::NeverMatches,
        &["select.kind", "dnss", "http, tcp, dns"],
    );
    assert_problem(
        &GOOD.replace(
            "select: { component: api }",
            "select: { layer: workload_apps }",
        ),
        ModelProblem::NeverMatches,
        &["select.layer", "workload_application"],
    );
    assert_problem(
        &GOOD.replace("select: { component: api }", "select: { component: \"\" }"),
        ModelProblem::NeverMatches,
        &["select.component"],
    );
}

#[test]
fn quorum_must_be_reachable() {
    let quorum = |k: &str| {
        GOOD.replace(
            "    children: [hub-dns]",
            &format!("    roll_up: quorum\n    quorum: {k}\n    children: [hub-dns]"),
        )
    };
    assert_problem(&quorum("2"), ModelProblem::Quorum, &["2 of 1"]);
    assert_problem(&quorum("0"), ModelProblem::Quorum, &["quorum"]);
    Model::from_yaml(&quorum("1"), "ok.yaml").expect("1 of 1 is fine");
    assert_problem(
        &GOOD.replace(
            "    children: [hub-dns]",
            "    roll_up: quorum\n    children: [hub-dns]",
        ),
        ModelProblem::Quorum,
        &["quorum: k"],
    );
}

#[test]
fn bad_values_are_refused() {
    assert_problem(
        &GOOD.replace(
            "layer: platform_hub\n    select",
            "layer: platform_hubb\n    select",
        ),
        ModelProblem::BadValue,
        &["field `layer`", "platform_hub"],
    );
    assert_problem(
        &GOOD.replace(
            "select: { component: api }",
            "select: { component: api }\n    thresholds: { degraded_failure_ratio: 0.5, unhealthy_failure_ratio: 0.2 }",
        ),
        ModelProblem::BadValue,
        &["degraded_failure_ratio"],
    );
    assert_problem(
        &format!("defaults: {{ min_signals: 0 }}\n{GOOD}"),
        ModelProblem::BadValue,
        &["defaults.min_signals"],
    );
}

#[test]
fn yaml_errors_name_the_file_and_location() {
    let err = refused(&GOOD.replace("depends_on:", "depend_on:"));
    match &err {
        ModelError::Parse { file, line, .. } => {
            assert_eq!(file, "bad-model.yaml");
            assert!(*line > 0);
        }
        other => panic!("expected a parse error, got {other}"),
    }
    assert!(err.to_string().contains("depend_on"), "{err}");
    let err = Model::load(Path::new("/nonexistent/model.yaml")).unwrap_err();
    assert!(err.to_string().contains("/nonexistent/model.yaml"), "{err}");
}

#[test]
fn attribution_values_that_parse_but_cannot_work_name_file_field_and_fix() {
    let ok = AggregatorConfig::from_yaml(
        "model: m.yaml\nattribution: { firewall_component: hub-firewall }\n",
        "agg.yaml",
    );
    assert!(ok.is_ok(), "{:?}", ok.err());
    for (section, field) in [
        (
            "{ firewall_component: ' ' }",
            "attribution.firewall_component",
        ),
        ("{ hub_network: '' }", "attribution.hub_network"),
        ("{ outage_ratio: 1.5 }", "attribution.outage_ratio"),
        ("{ open_after: 0 }", "attribution.open_after"),
    ] {
        let err = AggregatorConfig::from_yaml(
            &format!("model: m.yaml\nattribution: {section}\n"),
            "agg.yaml",
        )
        .unwrap_err();
        assert!(
            matches!(&err, ConfigError::Invalid { field: f, .. } if *f == field),
            "{section}: {err}"
        );
        let text = err.to_string();
        assert!(text.contains("agg.yaml") && text.contains("fix:"), "{text}");
    }
    let err = AggregatorConfig::from_yaml(
        "model: m.yaml\nattribution: { firewall: hub-firewall }\n",
        "agg.yaml",
    )
    .unwrap_err();
    assert!(err.to_string().contains("firewall"), "{err}");
}

#[test]
fn config_errors_name_file_field_and_fix() {
    let err =
        AggregatorConfig::from_yaml("model: m.yaml\nevaluation: { hysteresis: 0 }\n", "agg.yaml")
            .unwrap_err();
    assert!(
        matches!(
            err,
            ConfigError::Invalid {
                field: "evaluation.hysteresis",
                ..
            }
        ),
        "{err}"
    );
    let text = err.to_string();
    assert!(text.contains("agg.yaml") && text.contains("fix:"), "{text}");

    let err = AggregatorConfig::from_yaml(
        "model: m.yaml\nevaluation: { interval: soon }\n",
        "agg.yaml",
    )
    .unwrap_err();
    assert!(matches!(err, ConfigError::Parse { line: 2, .. }), "{err}");
    assert!(err.to_string().contains("500ms"), "{err}");

    let err = AggregatorConfig::from_yaml("modell: m.yaml\n", "agg.yaml").unwrap_err();
    assert!(err.to_string().contains("modell"), "{err}");

    let err = AggregatorConfig::from_yaml(
        "model: m.yaml\nevaluation: { window: 10s }\ningest: { max_signal_age: 1s }\n",
        "agg.yaml",
    )
    .unwrap_err();
    assert!(
        matches!(
            err,
            ConfigError::Invalid {
                field: "ingest.max_signal_age",
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn config_model_path_is_relative_to_the_config_file() {
    let c = AggregatorConfig::from_yaml("model: m.yaml\n", "/etc/vigil/aggregator.yaml").unwrap();
    assert_eq!(c.model, Path::new("/etc/vigil/m.yaml"));
    assert_eq!(c.evaluation, AggregatorConfig::default().evaluation);
}

#[test]
fn every_example_file_parses() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/examples");
    let mut models = 0;
    let mut configs = 0;
    for entry in std::fs::read_dir(&dir).expect("deploy/examples exists") {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        if !name.ends_with(".yaml") {
            continue;
        }
        if name.starts_with("model-") {
            let m = Model::load(&path).unwrap_or_else(|e| panic!("{e}"));
            assert!(m.nodes().len() > 2, "{name} has a real tree");
            models += 1;
        } else if name.starts_with("aggregator") {
            let c = AggregatorConfig::load(&path).unwrap_or_else(|e| panic!("{e}"));
            Model::load(&c.model)
                .unwrap_or_else(|e| panic!("{name} names a model that loads: {e}"));
            configs += 1;
        }
    }
    assert!(
        models >= 1 && configs >= 1,
        "found {models} models and {configs} configs"
    );
}

fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/examples")
}

#[test]
fn the_example_aggregator_config_writes_out_the_defaults() {
    let c = AggregatorConfig::load(&examples().join("aggregator.yaml")).unwrap();
    let d = AggregatorConfig::default();
    assert_eq!(c.attribution, d.attribution, "attribution:");
    assert_eq!(c.evaluation, d.evaluation, "evaluation:");
    assert_eq!(c.ingest, d.ingest, "ingest:");
    assert_eq!(c.listen, d.listen, "listen:");
}

#[test]
fn the_attribution_defaults_in_docs_model_md_are_the_defaults() {
    let doc =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/model.md"))
            .unwrap();
    let block = doc
        .split("```yaml\n")
        .filter_map(|rest| rest.split("```").next())
        .find(|b| b.starts_with("attribution:"))
        .expect("docs/model.md shows the attribution: section");
    let c = AggregatorConfig::from_yaml(&format!("model: m.yaml\n{block}"), "model.md").unwrap();
    assert_eq!(c.attribution, AggregatorConfig::default().attribution);
}

#[test]
fn the_example_model_lifts_dependencies_to_components_as_documented() {
    let model = Model::load(&examples().join("model-hub-two-spokes.yaml")).unwrap();
    let topology = vigil_health::attribution::observe::topology(&model, "hub", None);
    let deps = |c: &str| topology.depends_on.get(c).cloned().unwrap_or_default();
    // Both stamps' nodes lift to one component; what the API calls, and not
    // the firewall its failures would otherwise be handed to.
    assert_eq!(deps("checkout-api"), ["hub-dns", "orders-db"]);
    assert_eq!(deps("orders-db"), ["private-dns-zone"]);
    assert_eq!(deps("orders-worker"), ["orders-db"]);
    // Nothing else: the flow's selector names no component, so its
    // depends_on lifts to no dependent at all.
    assert_eq!(topology.depends_on.len(), 3, "{:?}", topology.depends_on);
}
