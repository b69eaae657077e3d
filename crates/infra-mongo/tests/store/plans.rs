//! Reading the server's `explain` answers: shared by `list_plans.rs` and `query_plans.rs`.

use mongodb::bson::{Bson, Document, doc};

/// Every `stage` of the plan tree, with the index name of each `IXSCAN`.
fn stages(plan: &Document, out: &mut Vec<String>) {
    if let Ok(stage) = plan.get_str("stage") {
        match plan.get_str("indexName") {
            Ok(index) => out.push(format!("{stage} {index}")),
            Err(_) => out.push(stage.to_owned()),
        }
    }
    for value in plan.values() {
        match value {
            Bson::Document(d) => stages(d, out),
            Bson::Array(items) => items.iter().for_each(|i| {
                if let Bson::Document(d) = i {
                    stages(d, out)
                }
            }),
            _ => {}
        }
    }
}

/// The stages of the winning plan of an `explain` answer: a `find`'s, or an `aggregate`'s
/// (whose plan is at the top, or in its first stage's `$cursor`).
pub fn winning_stages(explained: &Document) -> Vec<String> {
    let planner = explained.get_document("queryPlanner").or_else(|_| {
        explained
            .get_array("stages")
            .ok()
            .and_then(|s| s.first())
            .and_then(Bson::as_document)
            .and_then(|s| s.get_document("$cursor").ok())
            .ok_or(())
            .and_then(|c| c.get_document("queryPlanner").map_err(|_| ()))
    });
    let winning = planner
        .ok()
        .and_then(|p| p.get_document("winningPlan").ok())
        .unwrap_or_else(|| panic!("a winning plan: {explained}"));
    let mut seen = Vec::new();
    stages(winning, &mut seen);
    seen
}

/// Whether the server's `explain` tells a sort served by an index from a blocking `SORT`.
/// SecantusDB's planner reports a blocking SORT above every compound index whose leading field
/// is not the sort's (it does not see that the fields before it are pinned by equality); MongoDB
/// serves the sort from the index.
pub async fn sorts_reported_truly(uri: &str) -> bool {
    let build = mongodb::Client::with_uri_str(uri)
        .await
        .unwrap()
        .database("admin")
        .run_command(doc! { "buildInfo": 1 })
        .await
        .unwrap();
    !build.contains_key("secantusVersion")
}
