//! Image references and match patterns on arbitrary text: errors, never a
//! panic; a parsed reference prints to a form that parses back to itself.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pod_hardener::profile::{ImagePattern, ImageRef};

fuzz_target!(|text: &str| {
    let image = ImageRef::parse(text);
    if let Ok(image) = &image {
        let printed = image.to_string();
        let again = ImageRef::parse(&printed)
            .unwrap_or_else(|e| panic!("{text:?} printed as {printed:?}, which fails: {e}"));
        assert_eq!(&again, image, "{text:?} -> {printed:?}");
    }
    if let Ok(pattern) = ImagePattern::parse(text) {
        if let Ok(image) = &image {
            let _ = pattern.matches(image);
        }
    }
});
