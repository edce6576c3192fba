//! Typed CIB elements (the subset this project configures) and their XML form, following
//! Pacemaker 2.1's schema `pacemaker-3.9` (roles `Promoted`/`Unpromoted`).

use super::xml::Element;

/// Schema the generated CIB validates against (Pacemaker 2.1.5 knows up to 3.9).
pub const VALIDATE_WITH: &str = "pacemaker-3.9";

/// A name/value pair; its id is derived from the owning block's id and the name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NvPair {
    pub name: String,
    pub value: String,
    /// Why this value, written as an XML comment before the pair.
    pub why: Option<String>,
}

impl NvPair {
    /// A pair without comment.
    pub fn new(name: &str, value: impl Into<String>) -> Self {
        NvPair {
            name: name.to_string(),
            value: value.into(),
            why: None,
        }
    }

    /// A pair with the reason for its value.
    pub fn because(name: &str, value: impl Into<String>, why: &str) -> Self {
        NvPair {
            why: Some(why.to_string()),
            ..NvPair::new(name, value)
        }
    }
}

/// `<tag id=...>` holding nvpairs with ids `<id>-<name>`.
fn nv_block(tag: &str, id: &str, pairs: &[NvPair]) -> Element {
    let mut e = Element::new(tag).attr("id", id);
    for p in pairs {
        if let Some(why) = &p.why {
            e = e.comment(why);
        }
        e = e.child(
            Element::new("nvpair")
                .attr("id", format!("{id}-{}", p.name))
                .attr("name", &p.name)
                .attr("value", &p.value),
        );
    }
    e
}

/// A promotable clone's role.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Promoted,
    Unpromoted,
}

impl Role {
    /// The schema's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Promoted => "Promoted",
            Role::Unpromoted => "Unpromoted",
        }
    }
}

/// An operation definition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Op {
    pub name: String,
    pub interval: String,
    pub timeout: String,
    pub role: Option<Role>,
}

impl Op {
    /// An operation with interval and timeout (e.g. `"1s"`, `"20s"`).
    pub fn new(name: &str, interval: &str, timeout: &str) -> Self {
        Op {
            name: name.to_string(),
            interval: interval.to_string(),
            timeout: timeout.to_string(),
            role: None,
        }
    }

    /// The same operation for one role only.
    pub fn for_role(mut self, role: Role) -> Self {
        self.role = Some(role);
        self
    }

    fn to_element(&self, rsc_id: &str) -> Element {
        let role = self
            .role
            .map(|r| format!("-{}", r.as_str().to_lowercase()))
            .unwrap_or_default();
        let mut e = Element::new("op")
            .attr(
                "id",
                format!("{rsc_id}-{}-{}{role}", self.name, self.interval),
            )
            .attr("name", &self.name)
            .attr("interval", &self.interval)
            .attr("timeout", &self.timeout);
        if let Some(r) = self.role {
            e = e.attr("role", r.as_str());
        }
        e
    }
}

/// A primitive resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Primitive {
    pub id: String,
    pub class: String,
    pub provider: String,
    pub agent: String,
    pub params: Vec<NvPair>,
    pub meta: Vec<NvPair>,
    pub ops: Vec<Op>,
}

impl Primitive {
    /// `ocf:<provider>:<agent>` in `crm_mon`'s spelling.
    pub fn agent_spec(&self) -> String {
        format!("{}:{}:{}", self.class, self.provider, self.agent)
    }

    pub fn to_element(&self) -> Element {
        let mut e = Element::new("primitive")
            .attr("id", &self.id)
            .attr("class", &self.class)
            .attr("provider", &self.provider)
            .attr("type", &self.agent);
        if !self.params.is_empty() {
            e = e.child(nv_block(
                "instance_attributes",
                &format!("{}-params", self.id),
                &self.params,
            ));
        }
        if !self.meta.is_empty() {
            e = e.child(nv_block(
                "meta_attributes",
                &format!("{}-meta", self.id),
                &self.meta,
            ));
        }
        e.child(
            Element::new("operations").children(self.ops.iter().map(|o| o.to_element(&self.id))),
        )
    }
}

/// A clone (promotable when its meta says so) of one primitive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloneResource {
    pub id: String,
    pub meta: Vec<NvPair>,
    pub primitive: Primitive,
}

impl CloneResource {
    pub fn to_element(&self) -> Element {
        Element::new("clone")
            .attr("id", &self.id)
            .child(nv_block(
                "meta_attributes",
                &format!("{}-meta", self.id),
                &self.meta,
            ))
            .child(self.primitive.to_element())
    }
}

/// A top-level resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resource {
    Primitive(Primitive),
    Clone(CloneResource),
}

impl Resource {
    pub fn to_element(&self) -> Element {
        match self {
            Resource::Primitive(p) => p.to_element(),
            Resource::Clone(c) => c.to_element(),
        }
    }
}

/// A constraint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Constraint {
    /// `rsc` runs where `with_rsc` runs (in `with_role` if given).
    Colocation {
        id: String,
        rsc: String,
        with_rsc: String,
        with_role: Option<Role>,
        score: String,
    },
    /// `score` added to `rsc`'s preference for `role` on nodes whose attribute `attribute`
    /// equals `value` (a location constraint with one rule).
    Prefer {
        id: String,
        rsc: String,
        role: Role,
        score: String,
        attribute: String,
        value: String,
    },
    /// `first`'s `first_action` before `then`'s `then_action`; symmetrical: reverse on the way down.
    Order {
        id: String,
        first: String,
        first_action: String,
        then: String,
        then_action: String,
    },
}

impl Constraint {
    pub fn to_element(&self) -> Element {
        match self {
            Constraint::Colocation {
                id,
                rsc,
                with_rsc,
                with_role,
                score,
            } => {
                let mut e = Element::new("rsc_colocation")
                    .attr("id", id)
                    .attr("rsc", rsc)
                    .attr("with-rsc", with_rsc);
                if let Some(r) = with_role {
                    e = e.attr("with-rsc-role", r.as_str());
                }
                e.attr("score", score)
            }
            Constraint::Prefer {
                id,
                rsc,
                role,
                score,
                attribute,
                value,
            } => Element::new("rsc_location")
                .attr("id", id)
                .attr("rsc", rsc)
                .child(
                    Element::new("rule")
                        .attr("id", format!("{id}-rule"))
                        .attr("role", role.as_str())
                        .attr("score", score)
                        .child(
                            Element::new("expression")
                                .attr("id", format!("{id}-expr"))
                                .attr("attribute", attribute)
                                .attr("operation", "eq")
                                .attr("value", value),
                        ),
                ),
            Constraint::Order {
                id,
                first,
                first_action,
                then,
                then_action,
            } => Element::new("rsc_order")
                .attr("id", id)
                .attr("first", first)
                .attr("first-action", first_action)
                .attr("then", then)
                .attr("then-action", then_action)
                .attr("kind", "Mandatory")
                .attr("symmetrical", "true"),
        }
    }
}

/// The configuration part of a CIB.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cib {
    /// Id of our cluster property set.
    pub properties_id: String,
    pub properties: Vec<NvPair>,
    pub resources: Vec<Resource>,
    pub constraints: Vec<Constraint>,
}

impl Cib {
    /// `<crm_config>` with our property set.
    pub fn crm_config(&self) -> Element {
        Element::new("crm_config").child(nv_block(
            "cluster_property_set",
            &self.properties_id,
            &self.properties,
        ))
    }

    /// `<resources>`.
    pub fn resources(&self) -> Element {
        Element::new("resources").children(self.resources.iter().map(Resource::to_element))
    }

    /// `<constraints>`.
    pub fn constraints(&self) -> Element {
        Element::new("constraints").children(self.constraints.iter().map(Constraint::to_element))
    }

    /// `<configuration>` with our three sections (no nodes), the payload of
    /// `cibadmin --modify --allow-create -o configuration`: one atomic create-or-update, so the
    /// VIP never exists without its constraints.
    pub fn configuration(&self) -> Element {
        Element::new("configuration")
            .child(self.crm_config())
            .child(self.resources())
            .child(self.constraints())
    }

    /// A whole CIB document (empty node list and status), e.g. for `crm_verify` or as the
    /// first CIB of a fresh node.
    pub fn document(&self) -> Element {
        Element::new("cib")
            .attr("validate-with", VALIDATE_WITH)
            .attr("admin_epoch", "0")
            .attr("epoch", "1")
            .attr("num_updates", "0")
            .child(
                Element::new("configuration")
                    .child(self.crm_config())
                    .child(Element::new("nodes"))
                    .child(self.resources())
                    .child(self.constraints()),
            )
            .child(Element::new("status"))
    }
}
