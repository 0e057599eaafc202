//! The `server-list` greeting, encoded once while the servers stay the same.
//!
//! Every viewer is greeted with the server list, and every join looks its
//! server up in it: two provider answers per handshake. The providers keep
//! the list as an `Arc<[ServerInfo]>` (the mock list is made once per
//! thread) and [`Greeting`] keeps the last list it encoded, so a storm of
//! handshakes against an unchanged list costs a comparison each, not a
//! `server-list` frame built and serialized per viewer.

use std::sync::Arc;

use crate::protocol::frames;
use crate::protocol::model::ServerInfo;
use crate::wire::outbound::Shared;

/// The last list encoded and its frame (with its compressed form, made
/// once when a connection that negotiated compression first needs it).
/// One per provider thread.
#[derive(Debug, Default)]
pub(crate) struct Greeting {
    last: Option<(Arc<[ServerInfo]>, Arc<Shared>)>,
}

impl Greeting {
    /// The `server-list` frame of `servers`: the kept frame when `servers`
    /// is the list it was made from (the same `Arc`, or equal servers in
    /// the same order), otherwise a new one, which is kept instead.
    pub(crate) fn frame(&mut self, servers: &Arc<[ServerInfo]>) -> Arc<Shared> {
        if let Some((kept, frame)) = &mut self.last {
            if Arc::ptr_eq(kept, servers) || **kept == **servers {
                // Held on to the newest, so an equal list is not compared
                // element by element every time.
                *kept = servers.clone();
                return frame.clone();
            }
        }
        let frame = Arc::new(Shared::new(frames::server_list(servers)));
        self.last = Some((servers.clone(), frame.clone()));
        frame
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(names: &[&str]) -> Arc<[ServerInfo]> {
        names.iter().map(|n| ServerInfo::new(*n, *n, *n)).collect()
    }

    #[test]
    fn an_unchanged_list_keeps_its_frame_and_a_changed_one_is_encoded() {
        let mut greeting = Greeting::default();
        let first = greeting.frame(&list(&["1", "2"]));
        assert_eq!(
            first.text(),
            frames::server_list(&list(&["1", "2"])).as_str()
        );
        let again = greeting.frame(&list(&["1", "2"]));
        assert!(Arc::ptr_eq(&again, &first), "shared");
        let changed = greeting.frame(&list(&["1", "3"]));
        assert_eq!(
            changed.text(),
            frames::server_list(&list(&["1", "3"])).as_str()
        );
        let mut protected = list(&["1", "3"]).to_vec();
        protected[1] = protected[1].clone().protected();
        let flagged = greeting.frame(&protected.into());
        assert_ne!(flagged.text(), changed.text(), "a flag is part of the list");
    }
}
