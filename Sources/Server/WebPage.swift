/// `GET /`: the page where a curator pastes a text or a PubMed-style record (title and abstract)
/// and sees its entities highlighted by type, with scores and links to their concepts (and the
/// relations found between those concepts), filtered by
/// type. Plain HTML, CSS and JavaScript in one answer: no build step, nothing fetched from
/// elsewhere. `/?text=…&title=…` annotates at once (a link to a result, and the browser test).
///
/// Offsets in the answer count Unicode scalars while JavaScript strings count UTF-16 units, so
/// the page slices `Array.from(text)` (one element per code point), never the string itself.
enum WebPage {
    static let html = #"""
<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>biotag</title>
<style>
  :root { font-family: system-ui, sans-serif; color: #1d232a; background: #fafafa; }
  body { max-width: 60rem; margin: 1.5rem auto; padding: 0 1rem; }
  h1 { font-size: 1.4rem; margin: 0 0 .2rem; } h1 small { font-weight: normal; color: #667; font-size: .9rem; }
  label { display: block; font-weight: 600; margin-top: .8rem; }
  input[type=text], input[type=password], textarea { width: 100%; box-sizing: border-box; font: inherit; padding: .4rem; border: 1px solid #bbc; border-radius: 4px; }
  textarea { min-height: 9rem; }
  button { margin-top: .8rem; font: inherit; padding: .4rem 1.2rem; border-radius: 4px; border: 1px solid #345; background: #345; color: white; cursor: pointer; }
  #status { margin-left: 1rem; color: #667; } #status.error { color: #b00020; }
  #legend { margin: 1rem 0 .5rem; display: flex; flex-wrap: wrap; gap: .4rem; }
  #legend label { display: inline-flex; align-items: center; gap: .3rem; font-weight: normal; margin: 0; padding: .15rem .5rem; border-radius: 1rem; }
  .passage { background: white; border: 1px solid #dde; border-radius: 4px; padding: .8rem 1rem; line-height: 2; white-space: pre-wrap; margin-bottom: .6rem; }
  .passage .field { display: block; font-size: .75rem; text-transform: uppercase; color: #889; line-height: 1.2; }
  mark.entity { border-radius: 3px; padding: 0 .15rem; color: inherit; }
  mark.entity sub { font-size: .6rem; color: #445; margin-left: .15rem; }
  .hidden-type mark.entity.off { background: transparent !important; }
  .hidden-type mark.entity.off sub { display: none; }
  table { border-collapse: collapse; width: 100%; margin-top: 1rem; font-size: .9rem; background: white; }
  th, td { text-align: left; padding: .25rem .5rem; border-bottom: 1px solid #eef; } tr.off { display: none; }
  .t-disease { background: #ffc9c9; } .t-chemical { background: #c3fae8; } .t-gene { background: #d0bfff; }
  .t-species { background: #ffec99; } .t-cell { background: #a5d8ff; } .t-cell_type { background: #b2f2bb; }
  .t-anatomy { background: #ffd8a8; } .t-cellular_component { background: #eebefa; } .t-other { background: #dee2e6; }
</style>
</head>
<body class="hidden-type">
<h1>biotag <small id="model"></small></h1>
<form id="form">
  <label for="title">Title <small>(optional: with it, the text is the abstract of a record)</small></label>
  <input type="text" id="title" name="title">
  <label for="text">Text</label>
  <textarea id="text" name="text" placeholder="Paste a sentence, an abstract or a dataset description."></textarea>
  <label for="key">API key <small>(only if the server asks for one)</small></label>
  <input type="password" id="key" autocomplete="off">
  <button type="submit" id="run">Annotate</button><span id="status" role="status"></span>
</form>
<div id="legend"></div>
<div id="result"></div>
<table id="entities" hidden><thead><tr><th>type</th><th>text</th><th>score</th><th>concept</th><th>offsets</th></tr></thead><tbody></tbody></table>
<table id="relations" hidden><thead><tr><th>relation</th><th>arguments</th><th>score</th></tr></thead><tbody></tbody></table>
<script>
"use strict";
const known = ["disease", "chemical", "gene", "species", "cell", "cell_type", "anatomy", "cellular_component"];
const hidden = new Set();
const $ = (id) => document.getElementById(id);

function typeClass(type) { return "t-" + (known.includes(type) ? type : "other"); }

// Where a concept id leads: the ontology's own page.
function conceptURL(id) {
  const [prefix, local] = [id.slice(0, id.indexOf(":")), id.slice(id.indexOf(":") + 1)];
  switch (prefix) {
    case "MESH": return "https://meshb.nlm.nih.gov/record/ui?ui=" + encodeURIComponent(local);
    case "NCBITaxon": return "https://www.ncbi.nlm.nih.gov/Taxonomy/Browser/wwwtax.cgi?id=" + encodeURIComponent(local);
    case "NCBIGene": return "https://www.ncbi.nlm.nih.gov/gene/" + encodeURIComponent(local);
    case "HGNC": return "https://www.genenames.org/data/gene-symbol-report/#!/hgnc_id/" + encodeURIComponent(id);
    case "OMIM": return "https://omim.org/entry/" + encodeURIComponent(local);
    case "Cellosaurus": return "https://www.cellosaurus.org/" + encodeURIComponent(local);
    case "CL": case "UBERON": case "GO": case "CHEBI": case "DOID": case "HP":
      return "http://purl.obolibrary.org/obo/" + prefix + "_" + encodeURIComponent(local);
    default: return null;
  }
}

function conceptNode(concept) {
  const url = conceptURL(concept.id);
  const node = document.createElement(url ? "a" : "span");
  if (url) { node.href = url; node.target = "_blank"; node.rel = "noopener"; }
  node.textContent = concept.id + " " + concept.name;
  return node;
}

function describe(entity) {
  const types = entity.types || [entity.type];
  let text = types.join(" + ") + " · score " + entity.score.toFixed(3);
  for (const concept of entity.concepts || (entity.concept ? [entity.concept] : [])) text += " · " + concept.id + " " + concept.name;
  return text;
}

// One passage's text with its entities as <mark>s; an entity overlapping an earlier one is
// listed in the table but not highlighted twice.
function passageNode(field, text, entities) {
  const node = document.createElement("div");
  node.className = "passage";
  if (field) { const name = document.createElement("span"); name.className = "field"; name.textContent = field; node.append(name); }
  const scalars = Array.from(text);
  let cursor = 0;
  for (const entity of [...entities].sort((a, b) => a.start - b.start || b.end - a.end)) {
    if (entity.start < cursor || entity.end > scalars.length) continue;
    node.append(scalars.slice(cursor, entity.start).join(""));
    const mark = document.createElement("mark");
    mark.className = "entity " + typeClass(entity.type);
    mark.dataset.type = entity.type;
    mark.title = describe(entity);
    mark.append(scalars.slice(entity.start, entity.end).join(""));
    const label = document.createElement("sub");
    label.textContent = (entity.types || [entity.type]).join("+");
    mark.append(label);
    node.append(mark);
    cursor = entity.end;
  }
  node.append(scalars.slice(cursor).join(""));
  return node;
}

function applyFilter() {
  for (const node of document.querySelectorAll("[data-type]")) node.classList.toggle("off", hidden.has(node.dataset.type));
}

function legend(types) {
  const box = $("legend");
  box.replaceChildren();
  for (const type of types) {
    const label = document.createElement("label");
    label.className = typeClass(type);
    const check = document.createElement("input");
    check.type = "checkbox"; check.checked = !hidden.has(type); check.dataset.filter = type;
    check.addEventListener("change", () => { check.checked ? hidden.delete(type) : hidden.add(type); applyFilter(); });
    label.append(check, type);
    box.append(label);
  }
}

function show(document_) {
  const fields = Object.keys(document_).filter((key) => !["id", "model", "infons", "entities", "relations"].includes(key));
  const result = $("result"), rows = $("entities").querySelector("tbody");
  result.replaceChildren(); rows.replaceChildren();
  for (const field of fields) {
    const entities = document_.entities.filter((entity) => (entity.field || "text") === field);
    result.append(passageNode(fields.length > 1 ? field : null, document_[field], entities));
  }
  for (const entity of document_.entities) {
    const row = document.createElement("tr");
    row.dataset.type = entity.type;
    const cells = [(entity.types || [entity.type]).join(" + "), entity.text, entity.score.toFixed(3), "", (entity.field ? entity.field + " " : "") + entity.start + "–" + entity.end];
    for (const value of cells) { const cell = document.createElement("td"); cell.textContent = value; row.append(cell); }
    const concepts = entity.concepts || (entity.concept ? [entity.concept] : []);
    concepts.forEach((concept, index) => { if (index) row.children[3].append(", "); row.children[3].append(conceptNode(concept)); });
    rows.append(row);
  }
  $("entities").hidden = document_.entities.length === 0;
  // Relations between concepts, each argument named as the entities linked to it name it.
  const names = new Map();
  for (const entity of document_.entities) for (const concept of entity.concepts || (entity.concept ? [entity.concept] : [])) names.set(concept.id, concept);
  const relations = document_.relations || [], relationRows = $("relations").querySelector("tbody");
  relationRows.replaceChildren();
  for (const relation of relations) {
    const row = document.createElement("tr");
    const type = document.createElement("td"), roles = document.createElement("td"), score = document.createElement("td");
    type.textContent = relation.type; score.textContent = relation.score.toFixed(3);
    relation.arguments.forEach((argument, index) => {
      if (index) roles.append(" → ");
      roles.append(argument.role + ": ", conceptNode(names.get(argument.concept) || { id: argument.concept, name: "" }));
    });
    row.append(type, roles, score);
    relationRows.append(row);
  }
  $("relations").hidden = relations.length === 0;
  const types = [...new Set(document_.entities.flatMap((entity) => [entity.type]))];
  legend(types.sort((a, b) => (known.indexOf(a) + 99) % 99 - (known.indexOf(b) + 99) % 99));
  applyFilter();
  $("status").className = "";
  $("status").textContent = document_.entities.length + " entities" + (relations.length ? ", " + relations.length + " relations" : "");
}

async function annotate() {
  const title = $("title").value, text = $("text").value;
  const body = title.trim()
    ? { records: [{ id: "1", title: title, abstract: text }], text_fields: ["title", "abstract"] }
    : { texts: [text] };
  const headers = { "Content-Type": "application/json" };
  if ($("key").value) { headers["Authorization"] = "Bearer " + $("key").value; sessionStorage.setItem("biotag-key", $("key").value); }
  $("status").className = ""; $("status").textContent = "annotating…";
  try {
    const response = await fetch("v1/annotate", { method: "POST", headers: headers, body: JSON.stringify(body) });
    const answer = await response.json();
    if (!response.ok) throw new Error(response.status + ": " + ((answer.error && answer.error.message) || response.statusText));
    show(answer.documents[0]);
  } catch (error) {
    $("status").className = "error"; $("status").textContent = error.message;
  }
}

$("form").addEventListener("submit", (event) => { event.preventDefault(); annotate(); });
$("key").value = sessionStorage.getItem("biotag-key") || "";
fetch("v1/info", { headers: $("key").value ? { "Authorization": "Bearer " + $("key").value } : {} })
  .then((response) => response.ok ? response.json() : null)
  .then((info) => { if (info) $("model").textContent = info.model.name + " " + info.model.version + " · " + info.tasks.join(", "); })
  .catch(() => {});
const query = new URLSearchParams(location.search);
if (query.has("text")) { $("text").value = query.get("text"); $("title").value = query.get("title") || ""; annotate(); }
</script>
</body>
</html>
"""#
}
