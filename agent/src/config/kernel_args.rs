//! Extra kernel arguments: handed to the bootloader step rather than written here, since that step
//! writes the installed system's whole kernel command line (root device, console) in one place.
use super::{Checked, Family, Plugin, Rendered};

/// Passes the config's kernel arguments on, first occurrence of each kept.
pub struct KernelArgs;

impl Plugin for KernelArgs {
    fn name(&self) -> &'static str {
        "kernel_args"
    }

    fn render(&self, config: Checked<'_>, _family: Family, out: &mut Rendered) {
        for arg in &config.kernel_args {
            if !out.kernel_args.contains(arg) {
                out.kernel_args.push(arg.clone());
            }
        }
    }
}
