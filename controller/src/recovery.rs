//! Tidying after a crash: sessions whose process ended without closing them
//! (kill -9, power cut, OOM) are closed the next time any attune opens the
//! store. Their `pending` turns become `interrupted`, and they get the same
//! memory summary a clean close would have written, so the participant's
//! next session still remembers them.
//!
//! Design: only sessions whose owner process is gone are touched. The owner
//! is recorded as pid + process start time (see
//! [`crate::store::process_identity`]), so a second attune running on the
//! same database never closes a live session, and a reused pid is not
//! mistaken for the owner.

use crate::store::{Store, StoreError};
use attune_dialogue::memory::{summarize, TurnNote};
use attune_dialogue::reasoner::Analysis;

/// Closes every orphaned session in `store`; returns how many were closed.
/// Prints one line per closed session on stderr.
pub fn close_orphans(store: &Store, summary_chars: usize) -> Result<usize, StoreError> {
    let mut closed = 0;
    for orphan in store.orphaned_sessions()? {
        let notes: Vec<TurnNote> = orphan
            .turns
            .iter()
            .filter_map(|(text, analysis, risk)| {
                let a: Analysis = serde_json::from_str(analysis).ok()?;
                Some(TurnNote { act: a.user_act, emotions: a.emotions, text: text.clone(), crisis: matches!(risk.as_str(), "high" | "imminent") })
            })
            .collect();
        let summary = summarize(orphan.day, &notes, summary_chars);
        let interrupted = store.close_orphan(orphan.id, &summary)?;
        eprintln!(
            "attune: closed session {} left open by a process that ended ({} turn(s), {interrupted} marked interrupted)",
            orphan.id,
            orphan.turns.len()
        );
        closed += 1;
    }
    Ok(closed)
}
