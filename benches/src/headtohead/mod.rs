//! Head-to-head benchmark of fountain against udpcast and uftp on a private namespace network
//! (issue 6, item 4). The binary is `headtohead`; the namespace test uses [`netns`] too.

pub mod machine;
pub mod netns;
pub mod object;
pub mod process;
pub mod scenario;
pub mod table;
pub mod tools;
