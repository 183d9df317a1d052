//! template.yaml's operational resources agree with the code and the README:
//! the alarms are exactly the README's alarm table, on metrics the code emits,
//! notifying the optional topic; the dashboard reads metrics the code emits;
//! every function logs JSON to a log group kept `LogRetentionDays`; the API is
//! throttled and access-logged; the send worker's stream retries a bounded
//! number of times and then dead-letters into an alarmed queue.

use std::collections::{BTreeMap, BTreeSet};
use yaml_rust2::{Yaml, YamlLoader};

const ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/..");

fn template() -> Yaml {
    let text = std::fs::read_to_string(format!("{ROOT}/template.yaml")).expect("template.yaml");
    YamlLoader::load_from_str(&text)
        .expect("template.yaml is YAML")
        .into_iter()
        .next()
        .expect("one document")
}

/// (logical id, resource) of every resource of `kind`.
fn resources(t: &Yaml, kind: &str) -> Vec<(String, Yaml)> {
    t["Resources"]
        .as_hash()
        .expect("Resources")
        .iter()
        .filter(|(_, r)| r["Type"].as_str() == Some(kind))
        .map(|(k, r)| (k.as_str().unwrap_or_default().to_owned(), r.clone()))
        .collect()
}

/// Function logical id → its binary.
fn functions(t: &Yaml) -> BTreeMap<String, String> {
    resources(t, "AWS::Serverless::Function")
        .into_iter()
        .map(|(id, r)| {
            let binary = r["Metadata"]["BuildProperties"]["Binary"]
                .as_str()
                .expect("Binary")
                .to_owned();
            (id, binary)
        })
        .collect()
}

fn strings(list: &Yaml) -> Vec<&str> {
    list.as_vec()
        .map(|l| l.iter().filter_map(Yaml::as_str).collect())
        .unwrap_or_default()
}

/// Alarm name suffix (after `${AWS::StackName}-`) → alarm resource.
fn alarms(t: &Yaml) -> BTreeMap<String, Yaml> {
    resources(t, "AWS::CloudWatch::Alarm")
        .into_iter()
        .map(|(id, r)| {
            let name = r["Properties"]["AlarmName"]
                .as_str()
                .and_then(|n| n.strip_prefix("${AWS::StackName}-"))
                .unwrap_or_else(|| panic!("{id}: AlarmName is ${{AWS::StackName}}-<name>"))
                .to_owned();
            (name, r)
        })
        .collect()
}

/// Every metric name the code emits (`telemetry::count("X"` / `telemetry::metric("X"`).
fn emitted_metrics() -> BTreeSet<String> {
    fn walk(dir: &std::path::Path, found: &mut BTreeSet<String>) {
        for entry in std::fs::read_dir(dir).expect("source folder").flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(&path, found);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&path).expect("source file");
                for call in ["telemetry::count(", "telemetry::metric("] {
                    for (at, _) in text.match_indices(call) {
                        let rest = text[at + call.len()..].trim_start();
                        if let Some(name) = rest.strip_prefix('"').and_then(|r| r.split('"').next())
                        {
                            found.insert(name.to_owned());
                        }
                    }
                }
            }
        }
    }
    let mut found = BTreeSet::new();
    walk(
        std::path::Path::new(&format!("{ROOT}/shared/src")),
        &mut found,
    );
    found
}

/// The README's alarm table: (alarm names, first metric name) per row that has alarms.
fn readme_alarm_rows() -> Vec<(Vec<String>, String)> {
    let readme = std::fs::read_to_string(format!("{ROOT}/README.md")).expect("README.md");
    let section = readme
        .split("### What each alarm means")
        .nth(1)
        .expect("README has a `What each alarm means` section");
    let section = section.split("\n#").next().unwrap_or(section);
    let ticked = |cell: &str| -> Vec<String> {
        cell.split('`')
            .skip(1)
            .step_by(2)
            .map(str::to_owned)
            .collect()
    };
    section
        .lines()
        .filter(|l| l.starts_with('|') && !l.starts_with("|---"))
        .skip(1)
        .filter_map(|row| {
            let cells: Vec<&str> = row.split('|').map(str::trim).collect();
            let names = ticked(cells.get(1)?);
            let metric = ticked(cells.get(2)?).into_iter().next()?;
            (!names.is_empty()).then_some((names, metric))
        })
        .collect()
}

#[test]
fn the_alarms_are_exactly_the_readme_alarm_table_on_the_metrics_it_names() {
    let t = template();
    let alarms = alarms(&t);
    let binaries: Vec<String> = functions(&t).into_values().collect();
    let mut documented: BTreeMap<String, String> = BTreeMap::new();
    for (names, metric) in readme_alarm_rows() {
        for name in names {
            let expanded: Vec<String> = if name.contains("<function>") {
                binaries
                    .iter()
                    .map(|b| name.replace("<function>", b))
                    .collect()
            } else {
                vec![name]
            };
            for name in expanded {
                documented.insert(name, metric.clone());
            }
        }
    }
    assert_eq!(
        documented.keys().collect::<BTreeSet<_>>(),
        alarms.keys().collect::<BTreeSet<_>>(),
        "README alarm table vs template alarms"
    );
    for (name, metric) in &documented {
        assert_eq!(
            alarms[name]["Properties"]["MetricName"].as_str(),
            Some(metric.as_str()),
            "{name}"
        );
    }
}

#[test]
fn wxopen_alarms_and_the_dashboard_read_metrics_the_code_emits() {
    let t = template();
    let emitted = emitted_metrics();
    // The scan finds what it should (and could fail): the ticket metrics are emitted.
    assert!(emitted.contains("TicketAgeSeconds"), "{emitted:?}");
    for (name, alarm) in alarms(&t) {
        let p = &alarm["Properties"];
        if p["Namespace"].as_str() == Some("wxopen") {
            let metric = p["MetricName"].as_str().unwrap_or_default();
            assert!(
                emitted.contains(metric),
                "{name} watches {metric}, which nothing emits"
            );
            // The code publishes every metric without dimensions too (telemetry::emf_line).
            assert!(
                p["Dimensions"].is_badvalue(),
                "{name}: the total, no dimensions"
            );
        }
    }
    let body = dashboard_body(&t);
    let mut read = BTreeSet::new();
    for widget in body["widgets"].as_array().expect("widgets") {
        for line in widget["properties"]["metrics"].as_array().expect("metrics") {
            let line = line.as_array().expect("a metric line");
            if line.first().and_then(|v| v.as_str()) == Some("wxopen") {
                read.insert(line[1].as_str().expect("metric name").to_owned());
            }
            if let Some(expression) = line[0]["expression"].as_str() {
                let name = expression
                    .split("MetricName=\"")
                    .nth(1)
                    .and_then(|r| r.split('"').next())
                    .expect("SEARCH names a metric");
                assert!(expression.contains("{wxopen,"), "{expression}");
                read.insert(name.to_owned());
            }
        }
    }
    let wanted = [
        "Pushes",
        "TokenRenewals",
        "Sends",
        "WechatErrors",
        "TicketAgeSeconds",
        "QueuedChunks",
    ];
    assert_eq!(
        read,
        wanted
            .iter()
            .map(|s| (*s).to_owned())
            .collect::<BTreeSet<_>>()
    );
    for metric in &read {
        assert!(
            emitted.contains(metric),
            "the dashboard reads {metric}, which nothing emits"
        );
    }
}

/// The dashboard's JSON with every `${…}` substitution replaced by a placeholder.
fn dashboard_body(t: &Yaml) -> serde_json::Value {
    let [(_, dashboard)] = resources(t, "AWS::CloudWatch::Dashboard")
        .try_into()
        .unwrap_or_else(|_| panic!("one dashboard"));
    let body = dashboard["Properties"]["DashboardBody"]
        .as_str()
        .expect("DashboardBody (a !Sub string)");
    let mut plain = String::new();
    let mut rest = body;
    while let Some(at) = rest.find("${") {
        plain.push_str(&rest[..at]);
        let end = rest[at..].find('}').expect("closing brace") + at;
        plain.push_str(&format!("SUB:{}", &rest[at + 2..end]));
        rest = &rest[end + 1..];
    }
    plain.push_str(rest);
    serde_json::from_str(&plain).unwrap_or_else(|e| panic!("DashboardBody is JSON: {e}"))
}

#[test]
fn the_dashboard_shows_p99_durations_of_every_function() {
    let t = template();
    let body = dashboard_body(&t);
    let mut durations = BTreeSet::new();
    for widget in body["widgets"].as_array().expect("widgets") {
        let p = &widget["properties"];
        for line in p["metrics"].as_array().into_iter().flatten() {
            let line = line.as_array().expect("a metric line");
            if line.first().and_then(|v| v.as_str()) == Some("AWS/Lambda")
                && line.get(1).and_then(|v| v.as_str()) == Some("Duration")
            {
                assert_eq!(p["stat"], "p99");
                let function = line[3].as_str().expect("FunctionName value");
                durations.insert(function.trim_start_matches("SUB:").to_owned());
            }
        }
    }
    let ids: BTreeSet<String> = functions(&t).into_keys().collect();
    assert_eq!(durations, ids);
}

#[test]
fn every_function_has_an_errors_and_a_throttles_alarm_and_the_worker_its_stream_alarms() {
    let t = template();
    let alarms = alarms(&t);
    for (id, binary) in functions(&t) {
        for (suffix, metric) in [("errors", "Errors"), ("throttles", "Throttles")] {
            let alarm = &alarms[&format!("{binary}-{suffix}")]["Properties"];
            assert_eq!(alarm["Namespace"].as_str(), Some("AWS/Lambda"));
            assert_eq!(alarm["MetricName"].as_str(), Some(metric));
            assert_eq!(
                alarm["Dimensions"][0]["Name"].as_str(),
                Some("FunctionName")
            );
            assert_eq!(alarm["Dimensions"][0]["Value"].as_str(), Some(id.as_str()));
        }
    }
    let iterator = &alarms["send-worker-iterator-age"]["Properties"];
    assert_eq!(iterator["MetricName"].as_str(), Some("IteratorAge"));
    assert_eq!(
        iterator["Dimensions"][0]["Value"].as_str(),
        Some("SendWorkerFunction")
    );
    let dead = &alarms["send-worker-dead-letters"]["Properties"];
    assert_eq!(dead["Namespace"].as_str(), Some("AWS/SQS"));
    assert_eq!(
        dead["Dimensions"][0]["Value"].as_str(),
        Some("SendWorkerDeadLetters.QueueName")
    );
}

#[test]
fn alarms_notify_the_given_topic_or_a_new_one_for_the_given_email_or_nobody() {
    let t = template();
    let c = &t["Conditions"];
    // `!Not [!Equals [!Ref AlarmTopicArn, ""]]` loads as nested lists.
    assert_eq!(c["HasAlarmTopicArn"][0][0].as_str(), Some("AlarmTopicArn"));
    assert_eq!(c["HasAlarmTopicArn"][0][1].as_str(), Some(""));
    assert_eq!(
        strings(&c["AlarmsNotify"]),
        vec!["HasAlarmTopicArn", "CreatesAlarmTopic"]
    );
    let topic = &t["Resources"]["AlarmTopic"];
    assert_eq!(topic["Type"].as_str(), Some("AWS::SNS::Topic"));
    assert_eq!(topic["Condition"].as_str(), Some("CreatesAlarmTopic"));
    let subscription = &topic["Properties"]["Subscription"][0];
    assert_eq!(subscription["Protocol"].as_str(), Some("email"));
    assert_eq!(subscription["Endpoint"].as_str(), Some("AlarmEmail"));
    for (name, alarm) in alarms(&t) {
        for actions in ["AlarmActions", "OKActions"] {
            // !If [AlarmsNotify, [!If [HasAlarmTopicArn, !Ref AlarmTopicArn, !Ref AlarmTopic]], !Ref AWS::NoValue]
            let chosen = &alarm["Properties"][actions];
            assert_eq!(chosen[0].as_str(), Some("AlarmsNotify"), "{name} {actions}");
            assert_eq!(
                strings(&chosen[1][0]),
                vec!["HasAlarmTopicArn", "AlarmTopicArn", "AlarmTopic"],
                "{name} {actions}"
            );
            assert_eq!(chosen[2].as_str(), Some("AWS::NoValue"), "{name} {actions}");
        }
        let p = &alarm["Properties"];
        assert!(p["Threshold"].as_i64().is_some(), "{name}");
        assert!(p["TreatMissingData"].as_str().is_some(), "{name}");
        assert!(
            p["AlarmDescription"]
                .as_str()
                .is_some_and(|d| !d.is_empty()),
            "{name}"
        );
    }
}

#[test]
fn functions_log_json_to_their_own_log_group_kept_log_retention_days() {
    let t = template();
    let parameter = &t["Parameters"]["LogRetentionDays"];
    assert_eq!(parameter["Default"].as_i64(), Some(30));
    let groups: BTreeMap<String, Yaml> = resources(&t, "AWS::Logs::LogGroup").into_iter().collect();
    let mut used = BTreeSet::new();
    for (id, _) in functions(&t) {
        let logging = &t["Resources"][id.as_str()]["Properties"]["LoggingConfig"];
        assert_eq!(logging["LogFormat"].as_str(), Some("JSON"), "{id}");
        let group = logging["LogGroup"]
            .as_str()
            .unwrap_or_else(|| panic!("{id}: LogGroup"));
        assert!(
            groups.contains_key(group),
            "{id} logs to {group}, not a log group here"
        );
        assert!(
            used.insert(group.to_owned()),
            "{group} shared by two functions"
        );
    }
    let api_logs = t["Resources"]["HttpApi"]["Properties"]["AccessLogSettings"]["DestinationArn"]
        .as_str()
        .and_then(|arn| arn.strip_suffix(".Arn"))
        .expect("the HTTP API's access logs go to a log group of this template");
    used.insert(api_logs.to_owned());
    assert_eq!(used, groups.keys().cloned().collect::<BTreeSet<_>>());
    for (id, group) in &groups {
        assert_eq!(
            group["Properties"]["RetentionInDays"].as_str(),
            Some("LogRetentionDays"),
            "{id}"
        );
    }
}

#[test]
fn the_api_is_throttled_and_access_logged_without_paths_or_query_strings() {
    let t = template();
    let api = &t["Resources"]["HttpApi"]["Properties"];
    let route = &api["DefaultRouteSettings"];
    assert_eq!(
        route["ThrottlingBurstLimit"].as_str(),
        Some("ApiThrottlingBurstLimit")
    );
    assert_eq!(
        route["ThrottlingRateLimit"].as_str(),
        Some("ApiThrottlingRateLimit")
    );
    for parameter in ["ApiThrottlingBurstLimit", "ApiThrottlingRateLimit"] {
        assert!(t["Parameters"][parameter]["Default"]
            .as_i64()
            .is_some_and(|v| v > 0));
    }
    let format = api["AccessLogSettings"]["Format"].as_str().expect("Format");
    let fields: serde_json::Value = serde_json::from_str(format).expect("a JSON access log line");
    assert_eq!(fields["route"], "$context.routeKey");
    assert_eq!(fields["status"], "$context.status");
    // Link ids travel in paths and WeChat's signatures in query strings.
    for leak in [
        "$context.path",
        "$context.rawPath",
        "querystring",
        "$context.identity.user",
    ] {
        assert!(!format.contains(leak), "access logs would record {leak}");
    }
}

#[test]
fn the_worker_retries_a_bounded_number_of_times_then_dead_letters_into_an_alarmed_queue() {
    let t = template();
    let worker = &t["Resources"]["SendWorkerFunction"]["Properties"];
    let stream = &worker["Events"]["Chunks"]["Properties"];
    let retries = stream["MaximumRetryAttempts"]
        .as_i64()
        .expect("bounded retries");
    assert!((1..=10).contains(&retries), "{retries}");
    assert_eq!(stream["BisectBatchOnFunctionError"].as_bool(), Some(true));
    assert_eq!(
        stream["DestinationConfig"]["OnFailure"]["Destination"].as_str(),
        Some("SendWorkerDeadLetters.Arn")
    );
    let queue = &t["Resources"]["SendWorkerDeadLetters"];
    assert_eq!(queue["Type"].as_str(), Some("AWS::SQS::Queue"));
    // The worker may write to that queue and nothing else of SQS.
    let statements = worker["Policies"][0]["Statement"]
        .as_vec()
        .expect("statements");
    let sqs: Vec<&Yaml> = statements
        .iter()
        .filter(|s| s["Action"].as_str().is_some_and(|a| a.starts_with("sqs:")))
        .collect();
    let [send] = sqs.as_slice() else {
        panic!("one SQS statement")
    };
    assert_eq!(send["Action"].as_str(), Some("sqs:SendMessage"));
    assert_eq!(send["Resource"].as_str(), Some("SendWorkerDeadLetters.Arn"));
    // Reserved concurrency, unless the parameter is 0.
    assert_eq!(
        strings(&worker["ReservedConcurrentExecutions"]),
        vec![
            "ReservesWorkerConcurrency",
            "WorkerReservedConcurrency",
            "AWS::NoValue"
        ]
    );
    assert_eq!(
        t["Parameters"]["WorkerReservedConcurrency"]["MinValue"].as_i64(),
        Some(0)
    );
}
