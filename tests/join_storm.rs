//! No lost update between a join's read of the users and its entry into
//! the hub: viewers join while a bot changes presences as fast as it can,
//! and every viewer must get a snapshot and then, in order and without a
//! gap, every change made after it (see `common/storm.rs`). Nothing waits
//! on a timer for correctness: the storm runs while viewers join, and a
//! final marker message tells each viewer it has everything.

mod common;

use common::storm;
use common::*;

/// Every viewer who joined during a presence storm gets its snapshot and
/// then every later change, in order: no broadcast is lost between the
/// read and the subscription.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_viewer_joining_during_a_storm_ends_with_the_truth() {
    let truth = storm::truth();
    let read = truth.clone();
    let srv = start_with(move |b| storm::provide(b.config(quiet()), read));
    storm::run(&srv, &srv, &truth, 4_000, 24).await;
}
