// 图文 web page: facet chips above the search grid. Counts per attribute value come from
// GET /v1/facets over the query's candidates; a chip toggles its value in the filter, and
// the search runs again with it. Server text goes in through textContent only.
"use strict";

window.tuwenFacets = function (container, { api, el, onToggle }) {
  const FIELDS = { color: "颜色", gender: "性别", category: "类别" };
  let filters = {}; // field -> Set of values

  // The filter as [field, value] pairs, for a query string or a form.
  function pairs() {
    const out = [];
    for (const [f, vs] of Object.entries(filters)) for (const v of vs) out.push([f, v]);
    return out;
  }

  function clear() { filters = {}; }

  function chip(field, c) {
    const on = !!(filters[field] && filters[field].has(c.value));
    const b = el("button", "chip facet secondary", c.value + " " + c.count);
    b.type = "button";
    b.dataset.field = field;
    b.dataset.value = c.value;
    b.setAttribute("aria-pressed", String(on));
    b.addEventListener("click", () => {
      const set = filters[field] || (filters[field] = new Set());
      if (set.has(c.value)) set.delete(c.value); else set.add(c.value);
      if (!set.size) delete filters[field];
      onToggle();
    });
    return b;
  }

  async function show(q) {
    const chips = [];
    for (const [field, label] of Object.entries(FIELDS)) {
      const res = await api("/v1/facets?" + new URLSearchParams([["field", field], ["q", q], ...pairs()]));
      if (!res.ok) continue;
      const counts = (await res.json()).counts;
      if (!counts.length) continue;
      chips.push(el("span", "field", label));
      for (const c of counts.slice(0, 8)) chips.push(chip(field, c));
    }
    container.replaceChildren(...chips);
  }

  return { pairs, clear, show };
};
