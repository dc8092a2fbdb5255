//! The agent's orders: the `fountain.*` kernel arguments the control plane's iPXE script passes
//! (see `control::ipxe`), read from `/proc/cmdline`.
use control::auth::Secret;
use control::mac::Mac;

/// What the kernel command line asks of the agent.
#[derive(Debug)]
pub struct BootArgs {
    /// Control plane base URL (`fountain.server`).
    pub server: String,
    /// The job.
    pub job: Job,
}

/// The agent's job.
#[derive(Debug)]
pub enum Job {
    /// Unknown machine: report the hardware.
    Discover {
        /// The MAC it booted from.
        mac: Mac,
    },
    /// Lay out the disks and install `image@version`.
    Reimage {
        /// The node.
        node: String,
        /// Its token.
        token: Secret,
        /// Image name.
        image: String,
        /// Image version.
        version: u32,
    },
    /// Run an image from RAM (which one the token exchange says).
    Stateless {
        /// The node.
        node: String,
        /// Its token, good for one exchange.
        token: Secret,
    },
}

/// Why the command line cannot be acted on.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CmdlineError {
    /// A needed argument is absent.
    #[error("kernel argument fountain.{0}= is missing (was this booted by a fountain iPXE script?)")]
    Missing(&'static str),
    /// An argument does not parse.
    #[error("kernel argument fountain.{name}={value:?} is invalid: {reason}")]
    Invalid {
        /// Argument name after `fountain.`.
        name: &'static str,
        /// Its value.
        value: String,
        /// Why.
        reason: String,
    },
}

/// Parses `fountain.*` out of a kernel command line; other arguments are ignored.
pub fn parse(cmdline: &str) -> Result<BootArgs, CmdlineError> {
    let args: Vec<(&str, &str)> = cmdline.split_whitespace().filter_map(|w| w.strip_prefix("fountain.")).filter_map(|w| w.split_once('=')).collect();
    let get = |name: &'static str| args.iter().rev().find(|(k, _)| *k == name).map(|(_, v)| *v).ok_or(CmdlineError::Missing(name));
    let invalid = |name: &'static str, value: &str, reason: String| CmdlineError::Invalid { name, value: value.to_string(), reason };
    let server = get("server")?;
    if !server.starts_with("http://") && !server.starts_with("https://") {
        return Err(invalid("server", server, "expected an http:// or https:// URL".into()));
    }
    let node = || get("node").map(str::to_string);
    let token = || get("token").map(|t| Secret::new(t.to_string()));
    let job = match get("mode")? {
        "discover" => {
            let mac = get("mac")?;
            Job::Discover { mac: mac.parse().map_err(|e: control::mac::MacError| invalid("mac", mac, e.to_string()))? }
        }
        "reimage" => {
            let version = get("version")?;
            Job::Reimage {
                node: node()?,
                token: token()?,
                image: get("image")?.to_string(),
                version: version.parse().map_err(|e: std::num::ParseIntError| invalid("version", version, e.to_string()))?,
            }
        }
        "stateless" => Job::Stateless { node: node()?, token: token()? },
        other => return Err(invalid("mode", other, "expected discover, reimage or stateless".into())),
    };
    Ok(BootArgs { server: server.trim_end_matches('/').to_string(), job })
}

#[cfg(test)]
mod tests {
    use super::*;
    use control::ipxe::{AgentBoot, Script, render};

    /// The kernel line of a script the control plane renders.
    fn kernel_line(script: &Script<'_>) -> String {
        let s = render("http://10.0.0.1:8080", script);
        s.lines().find(|l| l.starts_with("kernel ")).unwrap().to_string()
    }

    #[test]
    fn reads_what_the_control_plane_renders() {
        let mac: Mac = "52:54:00:12:34:56".parse().unwrap();
        let args = parse(&kernel_line(&Script::Discovery { mac })).unwrap();
        assert_eq!(args.server, "http://10.0.0.1:8080");
        assert!(matches!(args.job, Job::Discover { mac: m } if m == mac));

        let token = Secret::new("00ff".into());
        let extra = vec!["console=ttyS0".to_string()];
        let script = Script::Agent { node: "n1", token: &token, job: AgentBoot::Reimage { image: "deb", version: 3, session: 7 }, kernel_args: &extra };
        match parse(&kernel_line(&script)).unwrap().job {
            Job::Reimage { node, token, image, version } => {
                assert_eq!((node.as_str(), token.expose(), image.as_str(), version), ("n1", "00ff", "deb", 3));
            }
            other => panic!("{other:?}"),
        }

        let script = Script::Agent { node: "n2", token: &token, job: AgentBoot::Stateless { image: "deb", version: 4, server: "http://10.0.0.9:81/img", kernel: None }, kernel_args: &extra };
        match parse(&kernel_line(&script)).unwrap().job {
            Job::Stateless { node, token } => {
                assert_eq!((node.as_str(), token.expose()), ("n2", "00ff"));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn refusals_name_the_argument() {
        assert_eq!(parse("quiet console=ttyS0").unwrap_err(), CmdlineError::Missing("server"));
        assert_eq!(parse("fountain.server=http://x fountain.mode=reimage fountain.node=n fountain.image=i fountain.version=1").unwrap_err(), CmdlineError::Missing("token"));
        let err = parse("fountain.server=http://x fountain.mode=discover fountain.mac=zz").unwrap_err().to_string();
        assert!(err.contains("fountain.mac=\"zz\" is invalid"), "{err}");
        assert!(parse("fountain.server=ftp://x fountain.mode=discover").is_err());
        assert!(matches!(parse("fountain.server=http://x fountain.mode=dance").unwrap_err(), CmdlineError::Invalid { name: "mode", .. }));
    }
}
