// Force-directed view of one seed's sub-graph (D3 v7, vendored: no CDN).
// Entities on the longest path and the relations between them are drawn in
// red; a click shows an entity's or a relation's details and evidence PMID.
(function () {
  const data = JSON.parse(document.getElementById("graph-data").textContent);
  const svg = d3.select("#graph");
  const width = +svg.attr("width"), height = +svg.attr("height");
  const details = document.getElementById("details");
  const nodes = data.nodes.map((d) => Object.assign({}, d));
  const links = data.links.map((d) => Object.assign({}, d));

  const simulation = d3.forceSimulation(nodes)
    .force("link", d3.forceLink(links).id((d) => d.id).distance(90))
    .force("charge", d3.forceManyBody().strength(-260))
    .force("center", d3.forceCenter(width / 2, height / 2))
    .force("collide", d3.forceCollide(18));

  const link = svg.append("g").attr("class", "links").selectAll("line").data(links).join("line")
    .attr("class", (d) => "relation" + (d.on_path ? " on-path" : ""))
    .attr("stroke", (d) => (d.on_path ? "#d93025" : "#9aa5b1"))
    .attr("stroke-width", (d) => (d.on_path ? 4 : 1.5))
    .style("cursor", "pointer")
    .on("click", (event, d) => show(
      `<b>${esc(d.source.name)}</b> ${esc(d.relation)} <b>${esc(d.target.name)}</b>` +
      ` (weight ${esc(d.weight)})<br>` + (d.evidence.length ? d.evidence.map((ev) =>
        `<a href="https://pubmed.ncbi.nlm.nih.gov/${encodeURIComponent(ev.pmid)}/" target="_blank"` +
        ` rel="noopener">PMID ${esc(ev.pmid)}</a>: <i>${esc(ev.sentence)}</i>`).join("<br>")
        : "no evidence sentence recorded")));

  const node = svg.append("g").attr("class", "nodes").selectAll("circle").data(nodes).join("circle")
    .attr("class", (d) => "entity" + (d.on_path ? " on-path" : ""))
    .attr("r", (d) => (d.seed ? 11 : 8))
    .attr("fill", (d) => (d.on_path ? "#d93025" : "#017cee"))
    .attr("stroke", "#fff").attr("stroke-width", 1.5)
    .style("cursor", "pointer")
    .on("click", (event, d) => {
      const related = links.filter((l) => l.source.id === d.id || l.target.id === d.id);
      show(`<b>${esc(d.name)}</b> (${esc(d.type)}, <code>${esc(d.id)}</code>)` +
        (d.on_path ? ` · on the longest path, step ${data.path.indexOf(d.id) + 1}` : "") +
        "<br>" + related.map((l) => `${esc(l.source.name)} ${esc(l.relation)} ${esc(l.target.name)}` +
        ` (PMID ${l.evidence.map((ev) => esc(ev.pmid)).join(", ")})`).join("<br>"));
    })
    .call(d3.drag()
      .on("start", (event, d) => { if (!event.active) simulation.alphaTarget(0.3).restart(); d.fx = d.x; d.fy = d.y; })
      .on("drag", (event, d) => { d.fx = event.x; d.fy = event.y; })
      .on("end", (event, d) => { if (!event.active) simulation.alphaTarget(0); d.fx = null; d.fy = null; }));
  node.append("title").text((d) => d.name);

  const label = svg.append("g").selectAll("text").data(nodes).join("text")
    .text((d) => d.name).attr("font-size", 11).attr("dx", 12).attr("dy", 4)
    .style("pointer-events", "none");  // a label must not swallow a click on the line under it

  simulation.on("tick", () => {
    link.attr("x1", (d) => d.source.x).attr("y1", (d) => d.source.y)
        .attr("x2", (d) => d.target.x).attr("y2", (d) => d.target.y);
    node.attr("cx", (d) => d.x).attr("cy", (d) => d.y);
    label.attr("x", (d) => d.x).attr("y", (d) => d.y);
  });
  // Tells scripted clients (and the browser tests) the layout stopped moving.
  simulation.on("end", () => svg.attr("data-settled", "true"));

  function show(html) { details.innerHTML = html; }
  function esc(value) {
    return String(value ?? "").replace(/[&<>"']/g, (c) =>
      ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
  }
})();
