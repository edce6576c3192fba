//! The templates, compiled in from `dist/templates`, and the minijinja environment.

use minijinja::{AutoEscape, Environment, UndefinedBehavior};

/// A template and the file it renders to.
#[derive(Debug)]
pub struct Output {
    pub template: &'static str,
    pub output: &'static str,
    pub secret: bool,
}

/// The manifests, in apply order.
pub const OUTPUTS: &[Output] = &[
    Output {
        template: "ovn-setup.yaml.j2",
        output: "ovn-setup.yaml",
        secret: true,
    },
    Output {
        template: "ovnkube-db-ha.yaml.j2",
        output: "ovnkube-db-ha.yaml",
        secret: false,
    },
    Output {
        template: "ovnkube-master.yaml.j2",
        output: "ovnkube-master.yaml",
        secret: false,
    },
    Output {
        template: "ovnkube-node.yaml.j2",
        output: "ovnkube-node.yaml",
        secret: false,
    },
];

const SOURCES: &[(&str, &str)] = &[
    (
        "_macros.j2",
        include_str!("../../../dist/templates/_macros.j2"),
    ),
    (
        "ovn-setup.yaml.j2",
        include_str!("../../../dist/templates/ovn-setup.yaml.j2"),
    ),
    (
        "ovnkube-db-ha.yaml.j2",
        include_str!("../../../dist/templates/ovnkube-db-ha.yaml.j2"),
    ),
    (
        "ovnkube-master.yaml.j2",
        include_str!("../../../dist/templates/ovnkube-master.yaml.j2"),
    ),
    (
        "ovnkube-node.yaml.j2",
        include_str!("../../../dist/templates/ovnkube-node.yaml.j2"),
    ),
];

/// A strict environment: undefined variables are errors, not empty strings.
pub fn environment() -> Result<Environment<'static>, (&'static str, minijinja::Error)> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    // minijinja would JSON-escape every value of a `.yaml` template; the templates quote what
    // users give explicitly with `tojson` instead, and keep our own names readable.
    env.set_auto_escape_callback(|_| AutoEscape::None);
    for (name, source) in SOURCES {
        env.add_template(name, source).map_err(|e| (*name, e))?;
    }
    Ok(env)
}
