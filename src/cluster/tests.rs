use std::cell::RefCell;
use std::collections::BTreeMap;

use serde_json::json;

use super::*;

fn forbidden() -> kube::Error {
    kube::Error::Api(Box::new(
        kube::core::Status::failure(
            "deployments.apps is forbidden: User \"system:serviceaccount:default:audit\" cannot list resource \"deployments\" in API group \"apps\" at the cluster scope",
            "Forbidden",
        )
        .with_code(403),
    ))
}

#[test]
fn a_403_names_resource_verb_namespace_and_the_grant() {
    let f = ApiFailure::from(&forbidden());
    assert_eq!(f.code, Some(403));
    let deployments = &WORKLOAD_RESOURCES[0];
    assert_eq!(
        describe_failure(&f, "list", deployments, None),
        "forbidden: cannot list deployments.apps in all namespaces (cluster scope): grant verb \"list\" on resource \"deployments\" in API group \"apps\" (ClusterRole in manifests/rbac/audit-clusterrole.yaml)"
    );
    let pods = &WORKLOAD_RESOURCES[7];
    let m = describe_failure(&f, "list", pods, Some("shop"));
    assert!(m.starts_with("forbidden: cannot list pods in namespace shop: grant verb \"list\" on resource \"pods\" in API group \"\""), "{m}");
}

#[test]
fn other_failures() {
    let jobs = &WORKLOAD_RESOURCES[4];
    let gone = ApiFailure::from(kube::Error::Api(Box::new(
        kube::core::Status::failure("The provided continue parameter is too old", "Expired")
            .with_code(410),
    )));
    assert_eq!(
        describe_failure(&gone, "list", jobs, Some("a")),
        "cannot list jobs.batch in namespace a: HTTP 410 Expired: The provided continue parameter is too old"
    );
    let not_served = ApiFailure {
        code: Some(404),
        reason: "NotFound".into(),
        message: String::new(),
    };
    assert!(
        describe_failure(&not_served, "list", &WORKLOAD_RESOURCES[3], None)
            .starts_with("cronjobs.batch is not served")
    );
    let unauth = ApiFailure {
        code: Some(401),
        reason: String::new(),
        message: String::new(),
    };
    assert!(describe_failure(&unauth, "list", jobs, None).starts_with("unauthorized"));
    let transport = ApiFailure {
        code: None,
        reason: String::new(),
        message: "connection refused".into(),
    };
    assert_eq!(
        describe_failure(&transport, "get", jobs, Some("x")),
        "cannot get jobs.batch in namespace x: connection refused"
    );
}

/// A fake API server: pages of `per_page` numbered items, tokens `"p<n>"`.
fn pages(
    total: usize,
    per_page: usize,
) -> impl FnMut(Option<String>) -> std::future::Ready<Result<Page, ApiFailure>> {
    move |token: Option<String>| {
        let start = token.map_or(0, |t| t[1..].parse::<usize>().unwrap());
        let end = (start + per_page).min(total);
        std::future::ready(Ok(Page {
            items: (start..end).map(|i| json!(i)).collect(),
            next: (end < total).then(|| format!("p{end}")),
        }))
    }
}

#[tokio::test]
async fn pagination_follows_continue_tokens_to_the_end() {
    let seen = RefCell::new(Vec::new());
    let items = paginate(pages(1234, 500), |n| seen.borrow_mut().push(n))
        .await
        .unwrap();
    assert_eq!(items.len(), 1234);
    assert_eq!(items[0], json!(0));
    assert_eq!(items[1233], json!(1233));
    assert_eq!(*seen.borrow(), [500, 1000, 1234]);
    // one page, and an empty list
    assert_eq!(paginate(pages(3, 500), |_| {}).await.unwrap().len(), 3);
    assert!(paginate(pages(0, 500), |_| {}).await.unwrap().is_empty());
    // an empty token ends the list too
    let items = paginate(
        |_| {
            std::future::ready(Ok(Page {
                items: vec![json!(1)],
                next: Some(String::new()),
            }))
        },
        |_| {},
    )
    .await
    .unwrap();
    assert_eq!(items, [json!(1)]);
}

#[tokio::test]
async fn pagination_stops_on_errors_and_repeated_tokens() {
    let calls = RefCell::new(0);
    let e = paginate(
        |token: Option<String>| {
            *calls.borrow_mut() += 1;
            std::future::ready(match token {
                None => Ok(Page {
                    items: vec![json!(1)],
                    next: Some("a".into()),
                }),
                Some(_) => Err(ApiFailure::from(forbidden())),
            })
        },
        |_| {},
    )
    .await
    .unwrap_err();
    assert_eq!(e.code, Some(403));
    assert_eq!(*calls.borrow(), 2);
    let e = paginate(
        |_| {
            std::future::ready(Ok(Page {
                items: vec![json!(1)],
                next: Some("same".into()),
            }))
        },
        |_| {},
    )
    .await
    .unwrap_err();
    assert_eq!(e.reason, "RepeatedContinue");
}

#[test]
fn containers_carry_their_termination_messages_and_events() {
    let pod = json!({
        "metadata": {"name": "web-1", "namespace": "shop"},
        "spec": {
            "initContainers": [{"name": "init", "image": "busybox:1.36"}],
            "containers": [
                {"name": "nginx", "image": "nginx:1.27", "terminationMessagePolicy": "FallbackToLogsOnError"},
                {"name": "app", "image": "registry.example.com/app:1", "workingDir": "/srv/app"}
            ]
        },
        "status": {
            "initContainerStatuses": [{"name": "init", "state": {"terminated": {"exitCode": 0}}}],
            "containerStatuses": [
                {"name": "nginx", "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                 "lastState": {"terminated": {"exitCode": 1, "message": "nginx: [emerg] mkdir() \"/var/cache/nginx/client_temp\" failed (30: Read-only file system)\n"}}},
                {"name": "app", "state": {"terminated": {"exitCode": 2, "message": "open /srv/app/state: read-only file system"}}}
            ]
        }
    });
    let mut cs = containers_of_pod(&pod);
    assert_eq!(
        cs.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(),
        ["init", "nginx", "app"]
    );
    assert!(cs[0].evidence.is_empty());
    assert_eq!(cs[1].evidence[0].source, "last termination message");
    assert!(cs[1].evidence[0].text.contains("client_temp"));
    assert_eq!(cs[2].evidence[0].source, "termination message");
    assert_eq!(cs[2].workdir.as_deref(), Some("/srv/app"));

    let events = [
        json!({"reason": "BackOff", "message": "Back-off restarting failed container nginx in pod web-1",
               "involvedObject": {"kind": "Pod", "name": "web-1", "fieldPath": "spec.containers{nginx}"}}),
        json!({"reason": "FailedMount", "message": "MountVolume.SetUp failed for volume \"x\"",
               "involvedObject": {"kind": "Pod", "name": "web-1"}}),
    ];
    attach_events(&mut cs, &events);
    assert_eq!(cs[1].evidence.len(), 3);
    assert_eq!(cs[1].evidence[1].source, "event BackOff");
    assert_eq!(
        cs[2].evidence.len(),
        2,
        "a pod-level event goes to every container"
    );
    assert_eq!(cs[0].evidence.len(), 1);
}

#[test]
fn profile_files_are_the_yaml_keys_in_order() {
    let data: BTreeMap<String, String> = [
        ("z.yaml", "z"),
        ("README", "r"),
        ("a.yaml", "a"),
        ("b.yml", "b"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let files = profile_files("ph", &data);
    assert_eq!(
        files,
        [
            (
                "ph/pod-hardener-profiles/a.yaml".to_string(),
                "a".to_string()
            ),
            (
                "ph/pod-hardener-profiles/z.yaml".to_string(),
                "z".to_string()
            ),
        ]
    );
}

/// The shipped ClusterRole grants every read audit and doctor make.
#[test]
fn the_clusterrole_covers_every_call() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/manifests/rbac/audit-clusterrole.yaml"
    );
    let role: serde_json::Value =
        serde_yaml::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    assert_eq!(role["kind"], "ClusterRole");
    assert_eq!(role["metadata"]["name"], "pod-hardener-audit");
    let grants = |group: &str, resource: &str, verb: &str| {
        role["rules"].as_array().unwrap().iter().any(|r| {
            let has = |k: &str, v: &str| r[k].as_array().unwrap().iter().any(|x| x == v);
            has("apiGroups", group) && has("resources", resource) && has("verbs", verb)
        })
    };
    for r in &WORKLOAD_RESOURCES {
        for verb in ["get", "list"] {
            assert!(grants(r.group, r.plural, verb), "{verb} {}", r.name());
        }
    }
    assert!(grants("", "pods/log", "get"));
    assert!(grants("", "events", "list"));
    assert!(grants("", "configmaps", "get"));
    for verb in ["create", "update", "patch", "delete", "*"] {
        assert!(
            !role.to_string().contains(&format!("\"{verb}\"")),
            "the role must stay read-only: {verb}"
        );
    }
}
