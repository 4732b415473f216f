//! Runs the admission function N times over one body, for instruction counts
//! that do not depend on a noisy VM: `valgrind --tool=callgrind` on this
//! binary (see `bench/callgrind`). The server's allocator (mimalloc), as in
//! the criterion bench, so the counts are what a review costs the server.
//! With `ADMISSION_LOOP_OUT=FILE` the last response is written there, to
//! compare two builds byte for byte.

use pod_hardener::admission::{review, Context, Mode, OnError, Policy};
use pod_hardener::harden::Options;
use pod_hardener::profile::Catalog;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let mut args = std::env::args().skip(1);
    let path = args
        .next()
        .expect("usage: admission-loop BODY.json [ITERATIONS]");
    let iterations: usize = args.next().map_or(1000, |n| n.parse().expect("a count"));
    let body = std::fs::read(&path).expect("readable body");
    let catalog = Catalog::builtin();
    let options = Options::default();
    let skip = vec!["kube-system".to_string()];
    let policy = Policy {
        options,
        mode: Mode::Enforce,
        on_error: OnError::Allow,
        skip_namespaces: skip.clone(),
    };
    let ctx = Context {
        catalog: &catalog,
        policy: &policy,
        max_body_bytes: 4 << 20,
    };
    let mut bytes = 0;
    let mut last = Vec::new();
    for _ in 0..iterations {
        let reviewed = review(
            std::hint::black_box(&body),
            Some("application/json"),
            false,
            &ctx,
        )
        .expect("an AdmissionReview");
        bytes += reviewed.body.len();
        last = reviewed.body;
    }
    // The response itself, for comparing two builds byte for byte.
    if let Some(out) = std::env::var_os("ADMISSION_LOOP_OUT") {
        std::fs::write(out, &last).expect("writable ADMISSION_LOOP_OUT");
    }
    println!("{iterations} reviews, {bytes} response bytes");
}
