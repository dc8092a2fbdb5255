//! Images: the one compressed filesystem artifact per version that stateful nodes unpack and stateless
//! nodes mount, how it is made (from distribution media with a role, or captured from a running node),
//! and the content-addressed store on the appliance that keeps every version.
pub mod artifact;
pub mod meta;
pub mod store;
