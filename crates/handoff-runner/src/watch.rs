//! Watching files: one debounced watcher for the rule paths (hot reload) and the gateway's secret file.

use std::path::{Path, PathBuf};
use std::time::Duration;

use notify::RecursiveMode;
use notify_debouncer_full::{DebounceEventResult, Debouncer, RecommendedCache, new_debouncer};

/// How long the watched paths must be quiet after a change before it is acted on (an editor's
/// save, a deploy's copy: a burst of events settles into one).
pub const RELOAD_SETTLE: Duration = Duration::from_millis(250);

/// Watches `paths` (their subfolders too when `recursive`) and calls `on_change` once a burst
/// of changes has been quiet for [`RELOAD_SETTLE`], when one of them is to a path that
/// `concerns` accepts (or asks for a rescan). Reading the files is an access event and never
/// counts, so that acting on a change does not trigger another. Watching ends when the
/// returned [`Watcher`] is dropped.
pub fn watch_paths(
    paths: &[PathBuf],
    recursive: bool,
    concerns: impl Fn(&Path) -> bool + Send + 'static,
    mut on_change: impl FnMut() + Send + 'static,
) -> notify::Result<Watcher> {
    let mut debouncer = new_debouncer(RELOAD_SETTLE, None, move |events: DebounceEventResult| {
        let changed = events.is_ok_and(|events| {
            events.iter().any(|e| {
                !e.kind.is_access()
                    && (e.need_rescan()
                        || e.paths.is_empty()
                        || e.paths.iter().any(|p| concerns(p)))
            })
        });
        if changed {
            on_change();
        }
    })?;
    let mode = if recursive {
        RecursiveMode::Recursive
    } else {
        RecursiveMode::NonRecursive
    };
    for p in paths {
        debouncer.watch(p, mode)?;
    }
    Ok(Watcher {
        _debouncer: debouncer,
    })
}

/// A running watch (see [`watch_paths`]); dropping it stops the watching thread.
pub struct Watcher {
    // Held for its Drop.
    _debouncer: Debouncer<notify::RecommendedWatcher, RecommendedCache>,
}

impl std::fmt::Debug for Watcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Watcher")
    }
}
