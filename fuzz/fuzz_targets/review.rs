//! The admission function on arbitrary request bytes: it must answer (a
//! response or a 4xx rejection), never panic, and an answer must be JSON.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pod_hardener::admission::{review, Context, Mode, OnError, Policy};
use pod_hardener::harden::Options;
use pod_hardener::profile::Catalog;
use std::sync::OnceLock;

fn catalog() -> &'static Catalog {
    static CATALOG: OnceLock<Catalog> = OnceLock::new();
    CATALOG.get_or_init(Catalog::builtin)
}

fuzz_target!(|data: &[u8]| {
    // The first byte picks the knobs a request can meet; the rest is the body.
    let Some((&knobs, body)) = data.split_first() else {
        return;
    };
    let options = Options::default();
    let skip = vec!["kube-system".to_string()];
    let policy = Policy {
        options,
        mode: if knobs & 1 == 0 { Mode::Enforce } else { Mode::DryRun },
        on_error: if knobs & 2 == 0 { OnError::Allow } else { OnError::Deny },
        skip_namespaces: skip.clone(),
    };
    let ctx = Context {
        catalog: catalog(),
        policy: &policy,
        max_body_bytes: 1 << 20,
    };
    if let Ok(reviewed) = review(body, Some("application/json"), knobs & 4 != 0, &ctx) {
        let v: serde_json::Value =
            serde_json::from_slice(&reviewed.body).expect("a response is JSON");
        assert_eq!(v["kind"], "AdmissionReview", "{v}");
    }
});
