//! The `server-join` frame, assembled from shared parts instead of copied.
//!
//! A join's frame is its head (`{"type":"server-join","data":{"users":`),
//! the guild's user map, and its tail (the request, the server's name and
//! client id). The map is the same bytes for every join of an unchanged
//! list ([`UserList::encoded`]), so the frame is three chunks, the middle
//! one shared: a 10,000-member join costs the socket write, not a megabyte
//! copy. On a connection that negotiated compression the middle chunk is
//! the map's deflate segment, compressed once per list
//! ([`UserList::deflated`]), between stored blocks of the head and tail
//! (see [`crate::deflate`]).

use bytes::{BufMut, Bytes, BytesMut};

use crate::deflate::{self, Settings};
use crate::providers::userlist::UserList;
use crate::wire::outbound::text_header;

/// The wire chunks of a join's frame, and the payload sizes before and
/// after compression when it was compressed.
pub(crate) fn join_frame(
    head: &str,
    users: &UserList,
    tail: &str,
    compressed: bool,
    settings: Settings,
) -> (Vec<Bytes>, Option<(usize, usize)>) {
    let map = users.encoded();
    let plain_len = head.len() + map.len() + tail.len();
    if compressed {
        if let Some(segment) = users.deflated(settings.level) {
            let mut first = BytesMut::with_capacity(head.len() + 20);
            let mut last = BytesMut::with_capacity(tail.len() + 8);
            let mut stored_head = BytesMut::with_capacity(head.len() + 8);
            deflate::stored(head.as_bytes(), &mut stored_head);
            deflate::stored(tail.as_bytes(), &mut last);
            last.put_u8(deflate::MESSAGE_END);
            let len = stored_head.len() + segment.len() + last.len();
            text_header(len, true, &mut first);
            first.extend_from_slice(&stored_head);
            let chunks = vec![first.freeze(), segment.clone(), last.freeze()];
            return (chunks, Some((plain_len, len)));
        }
    }
    let mut first = BytesMut::with_capacity(head.len() + 10);
    text_header(plain_len, false, &mut first);
    first.extend_from_slice(head.as_bytes());
    let chunks = vec![
        first.freeze(),
        map.clone(),
        Bytes::copy_from_slice(tail.as_bytes()),
    ];
    (chunks, None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::frames;
    use crate::protocol::model::{RoleColor, Status, User};
    use flate2::{Decompress, FlushDecompress};

    fn users() -> UserList {
        UserList::new(
            (0..2000)
                .map(|i| {
                    let uid = format!("{}", 100_000 + i);
                    User::new(&uid, &uid, Status::Online, RoleColor::from_rgb(0x112233))
                })
                .collect(),
        )
    }

    /// A frame's payload, from its chunks (a server frame's header).
    fn payload(chunks: &[Bytes]) -> (u8, Vec<u8>) {
        let all: Vec<u8> = chunks.concat();
        let start = match all[1] {
            126 => 4,
            127 => 10,
            _ => 2,
        };
        (all[0], all[start..].to_vec())
    }

    /// `server-join` as one string, from the parts and the map.
    fn server_join(
        users: &UserList,
        requested: &str,
        password: Option<&str>,
        name: &str,
        client: Option<&str>,
    ) -> String {
        let (head, tail) = frames::server_join_parts(requested, password, name, client);
        format!(
            "{head}{}{tail}",
            std::str::from_utf8(users.encoded()).unwrap()
        )
    }

    const SETTINGS: Settings = Settings {
        enabled: true,
        level: 6,
        min_bytes: 256,
    };

    #[test]
    fn plain_and_compressed_joins_carry_the_same_json() {
        let users = users();
        let (head, tail) = frames::server_join_parts("g", Some("pw"), "Guild", Some("42"));
        let expected = server_join(&users, "g", Some("pw"), "Guild", Some("42"));
        let (plain, none) = join_frame(&head, &users, &tail, false, SETTINGS);
        assert!(none.is_none());
        assert_eq!(payload(&plain), (0x81, expected.as_bytes().to_vec()));
        assert_eq!(
            plain[1].as_ptr(),
            users.encoded().as_ptr(),
            "the map is shared"
        );

        let (packed, sizes) = join_frame(&head, &users, &tail, true, SETTINGS);
        let (first, mut body) = payload(&packed);
        assert_eq!(first, 0xc1);
        assert_eq!(sizes, Some((expected.len(), body.len())));
        assert!(body.len() * 10 < expected.len(), "{} bytes", body.len());
        body.extend_from_slice(&[0, 0, 0xff, 0xff]);
        let mut out = Vec::with_capacity(expected.len() + 1);
        Decompress::new(false)
            .decompress_vec(&body, &mut out, FlushDecompress::Sync)
            .unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), expected);
        let (again, _) = join_frame(&head, &users, &tail, true, SETTINGS);
        assert_eq!(again[1].as_ptr(), packed[1].as_ptr(), "compressed once");
    }
}
