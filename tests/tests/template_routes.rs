//! template.yaml agrees with the code: its HTTP API routes are exactly
//! `wxopen::http::ROUTES`, each on the function the route table names (which is
//! also what the local router serves); every function binary is deployed as a
//! cargo-lambda function built from its own crate, DynamoDB only (checked with
//! `cargo tree` as cargo-lambda would build it); the table is the one the
//! DynamoDB store creates; the send worker's stream filter matches chunk items.
//! The operational resources (alarms, logs, dashboard) are in template_ops.rs.
//! That each function binary serves exactly its routes is checked by running
//! it as a Lambda (functions/*/tests/lambda.rs).

use std::collections::BTreeSet;
use wxopen::http::{find_route, Function, ROUTES};
use wxopen::store::dynamo;
use yaml_rust2::{Yaml, YamlLoader};

fn template() -> Yaml {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../template.yaml");
    let text =
        std::fs::read_to_string(path).expect("template.yaml next to the workspace's Cargo.toml");
    YamlLoader::load_from_str(&text)
        .expect("template.yaml is YAML")
        .into_iter()
        .next()
        .expect("one document")
}

/// (logical id, resource) of every `AWS::Serverless::Function`.
fn functions(t: &Yaml) -> Vec<(String, Yaml)> {
    t["Resources"]
        .as_hash()
        .expect("Resources")
        .iter()
        .filter(|(_, r)| r["Type"].as_str() == Some("AWS::Serverless::Function"))
        .map(|(k, r)| (k.as_str().unwrap_or_default().to_owned(), r.clone()))
        .collect()
}

fn binary_of(resource: &Yaml) -> String {
    resource["Metadata"]["BuildProperties"]["Binary"]
        .as_str()
        .expect("Metadata.BuildProperties.Binary")
        .to_owned()
}

fn events_of<'a>(resource: &'a Yaml, kind: &str) -> Vec<&'a Yaml> {
    resource["Properties"]["Events"]
        .as_hash()
        .map(|events| {
            events
                .values()
                .filter(|e| e["Type"].as_str() == Some(kind))
                .map(|e| &e["Properties"])
                .collect()
        })
        .unwrap_or_default()
}

const HTTP_FUNCTIONS: [Function; 3] = [Function::Callback, Function::Authorize, Function::Send];

#[test]
fn the_http_api_routes_are_exactly_the_route_table_on_the_same_functions() {
    let t = template();
    let mut deployed = BTreeSet::new();
    for (_, resource) in functions(&t) {
        let binary = binary_of(&resource);
        for event in events_of(&resource, "HttpApi") {
            let method = event["Method"].as_str().expect("Method").to_owned();
            let path = event["Path"].as_str().expect("Path").to_owned();
            deployed.insert((method, path, binary.clone()));
        }
    }
    let table: BTreeSet<_> = ROUTES
        .iter()
        .map(|r| {
            (
                r.method.to_owned(),
                r.pattern.to_owned(),
                r.function.name().to_owned(),
            )
        })
        .collect();
    assert_eq!(deployed, table);
}

#[test]
fn the_local_router_serves_every_route_of_the_table() {
    for route in ROUTES {
        let path: String = route
            .pattern
            .split('/')
            .map(|s| if s.starts_with('{') { "x1" } else { s })
            .collect::<Vec<_>>()
            .join("/");
        let method = http::Method::from_bytes(route.method.as_bytes()).expect("method");
        let (found, _) = find_route(&method, &path, None)
            .unwrap_or_else(|s| panic!("{} {path}: {s}", route.method));
        assert_eq!(found, route);
        let (on_its_function, _) =
            find_route(&method, &path, Some(route.function)).expect("on its function");
        assert_eq!(on_its_function, route);
    }
}

#[test]
fn every_function_binary_is_deployed_from_its_own_crate_on_the_chosen_architecture() {
    let t = template();
    let globals = &t["Globals"]["Function"];
    assert_eq!(globals["Runtime"].as_str(), Some("provided.al2023"));
    // `!Ref Architecture` loads as the parameter's name.
    assert_eq!(globals["Architectures"][0].as_str(), Some("Architecture"));
    let architecture = &t["Parameters"]["Architecture"];
    assert_eq!(architecture["Default"].as_str(), Some("arm64"));
    let allowed: BTreeSet<&str> = architecture["AllowedValues"]
        .as_vec()
        .expect("AllowedValues")
        .iter()
        .filter_map(Yaml::as_str)
        .collect();
    assert_eq!(allowed, BTreeSet::from(["arm64", "x86_64"]));
    // A CodeUri in Globals would build every function from one folder.
    assert!(globals["CodeUri"].is_badvalue(), "no shared CodeUri");
    let deployed: BTreeSet<String> = functions(&t)
        .iter()
        .map(|(id, r)| {
            assert_eq!(
                r["Metadata"]["BuildMethod"].as_str(),
                Some("rust-cargolambda"),
                "{id}"
            );
            let binary = binary_of(r);
            assert_eq!(
                r["Properties"]["CodeUri"].as_str(),
                Some(format!("functions/{binary}").as_str()),
                "{id} is built in its own crate's folder"
            );
            binary
        })
        .collect();
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../functions");
    let crates: BTreeSet<String> = std::fs::read_dir(dir)
        .expect("functions/")
        .filter_map(|e| e.ok())
        .filter(|e| e.path().join("Cargo.toml").exists())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(deployed, crates);
    for f in HTTP_FUNCTIONS {
        assert!(crates.contains(f.name()), "{}", f.name());
    }
    // Each crate's one binary is the one the template names (cargo-lambda's `--bin`).
    for binary in &deployed {
        let manifest: toml::Table = std::fs::read_to_string(format!("{dir}/{binary}/Cargo.toml"))
            .expect("Cargo.toml")
            .parse()
            .expect("a TOML manifest");
        let bins: Vec<&str> = manifest["bin"]
            .as_array()
            .expect("[[bin]]")
            .iter()
            .filter_map(|b| b["name"].as_str())
            .collect();
        assert_eq!(bins, vec![binary.as_str()]);
    }
}

/// The packages `cargo build` compiles when run in `dir` (what cargo-lambda
/// runs in a function's CodeUri), without dev-dependencies, as
/// `name vX.Y.Z` lines.
fn built_packages(dir: &std::path::Path) -> BTreeSet<String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let out = std::process::Command::new(cargo)
        .args([
            "tree",
            "--locked",
            "--offline",
            "-e",
            "no-dev",
            "--prefix",
            "none",
        ])
        .current_dir(dir)
        .output()
        .expect("running cargo tree");
    assert!(
        out.status.success(),
        "cargo tree in {}: {}",
        dir.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split(" (").next())
        .map(str::to_owned)
        .collect()
}

fn links(packages: &BTreeSet<String>, name: &str) -> bool {
    packages.iter().any(|p| p.split(' ').next() == Some(name))
}

/// What the measurements in the README were taken on is what `sam build`
/// ships: cargo run in each function's CodeUri selects that crate alone, so
/// the `wxopen` library's default features (SQLite, the local server) stay
/// off. From the workspace root cargo would unify every member's features.
#[test]
fn each_function_as_the_template_builds_it_links_dynamodb_and_neither_sqlite_nor_axum() {
    let t = template();
    let root = std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."));
    for (id, resource) in functions(&t) {
        let code_uri = resource["Properties"]["CodeUri"]
            .as_str()
            .unwrap_or_else(|| panic!("{id}: CodeUri"));
        let packages = built_packages(&root.join(code_uri));
        assert!(links(&packages, "aws-sdk-dynamodb"), "{id}: {packages:?}");
        for unwanted in ["rusqlite", "libsqlite3-sys", "axum"] {
            assert!(!links(&packages, unwanted), "{id} links {unwanted}");
        }
    }
    // The check can tell: the workspace as a whole does link SQLite.
    assert!(links(&built_packages(root), "rusqlite"));
}

#[test]
fn refresh_runs_every_five_minutes_and_the_worker_reads_only_new_chunks_from_the_stream() {
    let t = template();
    let all = functions(&t);
    let by_binary = |name: &str| {
        all.iter()
            .find(|(_, r)| binary_of(r) == name)
            .map(|(_, r)| r)
            .expect(name)
    };
    let schedules = events_of(by_binary("refresh"), "ScheduleV2");
    assert!(schedules
        .iter()
        .any(|s| s["ScheduleExpression"].as_str() == Some("rate(5 minutes)")));
    let streams = events_of(by_binary("send-worker"), "DynamoDB");
    let [stream] = streams.as_slice() else {
        panic!("one stream mapping")
    };
    assert_eq!(
        stream["FunctionResponseTypes"][0].as_str(),
        Some("ReportBatchItemFailures")
    );
    let pattern: serde_json::Value = serde_json::from_str(
        stream["FilterCriteria"]["Filters"][0]["Pattern"]
            .as_str()
            .expect("Pattern"),
    )
    .expect("the filter pattern is JSON");
    assert_eq!(pattern["eventName"], serde_json::json!(["INSERT"]));
    assert_eq!(
        pattern["dynamodb"]["NewImage"][dynamo::KIND_ATTRIBUTE]["S"],
        serde_json::json!([dynamo::KIND_CHUNK, dynamo::KIND_DELIVERY])
    );
}

#[test]
fn the_table_is_the_one_the_dynamodb_store_creates() {
    let t = template();
    let table = &t["Resources"]["Table"]["Properties"];
    let attribute_types: BTreeSet<(String, String)> = table["AttributeDefinitions"]
        .as_vec()
        .expect("AttributeDefinitions")
        .iter()
        .map(|a| {
            (
                a["AttributeName"].as_str().unwrap_or_default().to_owned(),
                a["AttributeType"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    let expected: BTreeSet<(String, String)> = [
        (dynamo::TABLE_KEY_PK, "S"),
        (dynamo::TABLE_KEY_SK, "S"),
        (dynamo::GSI_KEY_PK, "S"),
        (dynamo::GSI_KEY_SK, "N"),
        (dynamo::TENANT_INDEX_PK, "S"),
        (dynamo::TENANT_INDEX_SK, "S"),
    ]
    .into_iter()
    .map(|(a, b)| (a.to_owned(), b.to_owned()))
    .collect();
    assert_eq!(attribute_types, expected);
    let keys = |schema: &Yaml| -> Vec<(String, String)> {
        schema
            .as_vec()
            .expect("KeySchema")
            .iter()
            .map(|k| {
                (
                    k["AttributeName"].as_str().unwrap_or_default().to_owned(),
                    k["KeyType"].as_str().unwrap_or_default().to_owned(),
                )
            })
            .collect()
    };
    assert_eq!(
        keys(&table["KeySchema"]),
        vec![
            (dynamo::TABLE_KEY_PK.into(), "HASH".into()),
            (dynamo::TABLE_KEY_SK.into(), "RANGE".into())
        ]
    );
    let gsi = &table["GlobalSecondaryIndexes"][0];
    assert_eq!(gsi["IndexName"].as_str(), Some(dynamo::GSI_NAME));
    assert_eq!(
        keys(&gsi["KeySchema"]),
        vec![
            (dynamo::GSI_KEY_PK.into(), "HASH".into()),
            (dynamo::GSI_KEY_SK.into(), "RANGE".into())
        ]
    );
    assert_eq!(
        gsi["Projection"]["ProjectionType"].as_str(),
        Some(dynamo::GSI_PROJECTION)
    );
    let projected: Vec<&str> = gsi["Projection"]["NonKeyAttributes"]
        .as_vec()
        .map(|list| list.iter().filter_map(Yaml::as_str).collect())
        .unwrap_or_default();
    // create_table projects the TTL attribute alongside the keys (GSI_PROJECTED_ATTRIBUTES).
    let expected: Vec<&str> = if dynamo::GSI_PROJECTION == "INCLUDE" {
        vec![dynamo::TTL_ATTRIBUTE]
    } else {
        vec![]
    };
    assert_eq!(projected, expected);
    let tenant_index = &table["GlobalSecondaryIndexes"][1];
    assert_eq!(
        tenant_index["IndexName"].as_str(),
        Some(dynamo::TENANT_INDEX_NAME)
    );
    assert_eq!(
        keys(&tenant_index["KeySchema"]),
        vec![
            (dynamo::TENANT_INDEX_PK.into(), "HASH".into()),
            (dynamo::TENANT_INDEX_SK.into(), "RANGE".into())
        ]
    );
    assert_eq!(
        tenant_index["Projection"]["ProjectionType"].as_str(),
        Some(dynamo::TENANT_INDEX_PROJECTION)
    );
    assert!(table["GlobalSecondaryIndexes"][2].is_badvalue());
    assert_eq!(
        table["TimeToLiveSpecification"]["AttributeName"].as_str(),
        Some(dynamo::TTL_ATTRIBUTE)
    );
    assert_eq!(
        table["TimeToLiveSpecification"]["Enabled"].as_bool(),
        Some(true)
    );
    assert_eq!(
        table["StreamSpecification"]["StreamViewType"].as_str(),
        Some(dynamo::STREAM_VIEW_TYPE)
    );
    assert_eq!(table["BillingMode"].as_str(), Some(dynamo::BILLING_MODE));
    assert_eq!(
        table["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"].as_bool(),
        Some(true)
    );
}

#[test]
fn policies_name_actions_and_never_use_wildcards() {
    let t = template();
    for (id, resource) in functions(&t) {
        let policies = resource["Properties"]["Policies"]
            .as_vec()
            .unwrap_or_else(|| panic!("{id} has inline policies"));
        for policy in policies {
            for statement in policy["Statement"]
                .as_vec()
                .unwrap_or_else(|| panic!("{id}: Statement list"))
            {
                let actions: Vec<&str> = match &statement["Action"] {
                    Yaml::String(a) => vec![a.as_str()],
                    Yaml::Array(list) => list.iter().filter_map(Yaml::as_str).collect(),
                    other => panic!("{id}: Action {other:?}"),
                };
                assert!(!actions.is_empty(), "{id}");
                for action in actions {
                    assert!(!action.contains('*'), "{id} grants {action}");
                }
                assert!(
                    !matches!(&statement["Resource"], Yaml::String(r) if r == "*"),
                    "{id} on every resource"
                );
            }
        }
    }
}
