//! The profile file parser on arbitrary text: errors, never a panic, and a
//! file that parses must load into a catalog.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pod_hardener::profile::{parse_profile_set, Catalog};

fuzz_target!(|text: &str| {
    if parse_profile_set("fuzz.yaml", text).is_ok() {
        let files = vec![("fuzz.yaml".to_string(), text.to_string())];
        let catalog = Catalog::load(&files, false).expect("a valid file loads");
        for image in ["nginx:1.27", "registry.example.com/app@sha256:0123", "x"] {
            let _ = catalog.resolve(image);
        }
    }
});
