//! The synthetic member list every bench server answers with (`--users N`):
//! the same N users, in the same order, for ours, the floor and the
//! original (`python_server.py` builds the identical list), so every
//! server's `server-join` frame carries the same bytes of users.

/// One synthetic member: uid, username, status, role colour.
pub struct BenchUser {
    pub uid: String,
    pub username: String,
    pub status: &'static str,
    pub role_color: String,
}

/// Statuses cycle through these, as a real guild mixes them.
const STATUSES: [&str; 4] = ["online", "idle", "dnd", "offline"];

/// User `i` of the list: uid `900000000000000000 + i`, username `member<i>`.
pub fn user(i: usize) -> BenchUser {
    BenchUser {
        uid: (900_000_000_000_000_000u64 + i as u64).to_string(),
        username: format!("member{i}"),
        status: STATUSES[i % STATUSES.len()],
        role_color: format!(
            "#{:06x}",
            (i as u32).wrapping_mul(2_654_435_761) & 0xff_ffff
        ),
    }
}

/// The first `n` users.
pub fn users(n: usize) -> Vec<BenchUser> {
    (0..n).map(user).collect()
}

/// The `users` map of a `server-join` frame, as d-back and the original
/// encode it (`{"<uid>":{"uid":..,"username":..,"status":..,"roleColor":..}}`).
pub fn users_json(n: usize) -> serde_json::Value {
    let mut map = serde_json::Map::new();
    for u in users(n) {
        map.insert(
            u.uid.clone(),
            serde_json::json!({
                "uid": u.uid,
                "username": u.username,
                "status": u.status,
                "roleColor": u.role_color,
            }),
        );
    }
    serde_json::Value::Object(map)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn users_are_stable_and_distinct() {
        let u = users(3);
        assert_eq!(u[0].uid, "900000000000000000");
        assert_eq!(u[2].username, "member2");
        assert_eq!(u[1].status, "idle");
        assert_eq!(u[1].role_color, "#3779b1");
        assert_eq!(users_json(1000).as_object().map(|m| m.len()), Some(1000));
    }
}
