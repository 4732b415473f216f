//! Rule 3: a read-only root filesystem, unless the profile keeps it writable
//! or the container set `false` itself (kept, unless the configuration says
//! to override it).

use crate::harden::options::{Options, RuleMode};

/// What the rule decides for one container.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Root {
    /// The rule is off.
    RuleOff,
    /// The profile says `readOnlyRootFilesystem: false`.
    ProfileKeepsWritable,
    /// The container has a read-only root already.
    AlreadyReadOnly,
    /// The container says `false` itself, and the configuration keeps that.
    ExplicitFalseKept,
    /// Warn mode: it would be made read-only.
    WouldSet,
    /// Make it read-only; `overrides_false` when that replaces an explicit `false`.
    Set { overrides_false: bool },
}

impl Root {
    /// The root stays as it is: the container's own setting decides.
    pub(crate) fn left_as_is(self) -> bool {
        matches!(
            self,
            Root::RuleOff | Root::ProfileKeepsWritable | Root::ExplicitFalseKept
        )
    }
}

/// `current` is the container's own setting (`None` when it has none);
/// `profile_read_only` whether its profile wants a read-only root.
pub(crate) fn decide(current: Option<bool>, profile_read_only: bool, options: &Options) -> Root {
    match current {
        _ if options.read_only_root == RuleMode::Off => Root::RuleOff,
        _ if !profile_read_only => Root::ProfileKeepsWritable,
        Some(true) => Root::AlreadyReadOnly,
        Some(false) if !options.override_explicit_false => Root::ExplicitFalseKept,
        _ if options.read_only_root == RuleMode::Warn => Root::WouldSet,
        previous => Root::Set {
            overrides_false: previous == Some(false),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_setting_gets_its_decision() {
        let enforce = Options::default();
        let warn = Options {
            read_only_root: RuleMode::Warn,
            ..Options::default()
        };
        let off = Options {
            read_only_root: RuleMode::Off,
            ..Options::default()
        };
        let overriding = Options {
            override_explicit_false: true,
            ..Options::default()
        };
        for (current, profile, options, expected) in [
            (None, true, &off, Root::RuleOff),
            (Some(true), false, &enforce, Root::ProfileKeepsWritable),
            (Some(true), true, &enforce, Root::AlreadyReadOnly),
            (Some(false), true, &enforce, Root::ExplicitFalseKept),
            (Some(false), true, &warn, Root::ExplicitFalseKept),
            (None, true, &warn, Root::WouldSet),
            (
                None,
                true,
                &enforce,
                Root::Set {
                    overrides_false: false,
                },
            ),
            (
                Some(false),
                true,
                &overriding,
                Root::Set {
                    overrides_false: true,
                },
            ),
        ] {
            assert_eq!(
                decide(current, profile, options),
                expected,
                "{current:?} {profile}"
            );
        }
        assert!(Root::ExplicitFalseKept.left_as_is());
        assert!(!Root::WouldSet.left_as_is());
    }
}
