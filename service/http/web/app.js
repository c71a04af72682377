// 图文 web page: ask a question about a catalog photo (or an uploaded one), stream the answer.
// Every piece of text from the server goes in through textContent, never innerHTML.
"use strict";

(function () {
  const $ = (id) => document.getElementById(id);
  const form = $("ask-form");
  const question = $("question");
  const imageInput = $("image");
  const photoInput = $("photo");
  const askBtn = $("ask-btn");
  const statusEl = $("status");
  const errorEl = $("error");
  const result = $("result");
  const answerEl = $("answer");
  const metaEl = $("meta");
  const citedTitle = $("cited-title");
  const citations = $("citations");
  const chosen = $("chosen");
  const chosenImg = $("chosen-img");
  const chosenName = $("chosen-name");
  const chosenCaption = $("chosen-caption");
  const searchBox = $("search");
  const searchToggle = $("search-toggle");
  const searchQ = $("search-q");
  const searchStatus = $("search-status");
  const searchResults = $("search-results");

  const KINDS = { retrieve: "按描述找图", describe: "图片描述", attribute: "属性问答" };
  const ATTRS = {
    color: "颜色", category: "商品类别", gender: "适用性别", usage: "适用场合",
    material: "面料或材质", style: "风格", shoes: "搭配的鞋子",
  };
  const STAGES = { route: "路由", encode: "编码", search: "检索", prompt: "提示", generate: "生成" };

  let inflight = null; // AbortController of the running ask
  let photoURL = null; // object URL of the uploaded photo's preview

  const imageURL = (name) => "/images/" + name.split("/").map(encodeURIComponent).join("/");

  // ---------------------------------------------------------------- the API key
  // A server with TUWEN_AUTH_READS wants its key on reads too: asked for once (on the first
  // 401), kept for this tab, sent as a bearer header; photos (<img>) get it as a cookie
  // that the server accepts for GET /images/ only.
  const KEY = "tuwen-api-key";
  function rememberKey(key) {
    sessionStorage.setItem(KEY, key);
    document.cookie = "tuwen_key=" + encodeURIComponent(key) + "; path=/images; SameSite=Strict";
  }
  async function api(url, opts = {}) {
    const send = () => {
      const key = sessionStorage.getItem(KEY);
      const headers = Object.assign({}, opts.headers || {});
      if (key) headers.Authorization = "Bearer " + key;
      return fetch(url, Object.assign({}, opts, { headers }));
    };
    let res = await send();
    if (res.status === 401) {
      const key = window.prompt("此服务需要 API 密钥（TUWEN_API_KEY）：");
      if (key) { rememberKey(key.trim()); res = await send(); }
    }
    return res;
  }
  if (sessionStorage.getItem(KEY)) rememberKey(sessionStorage.getItem(KEY));

  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }

  // A photo that marks itself data-loaded="1" or data-broken="1" (tests rely on these).
  function photoImg(name, alt) {
    const img = document.createElement("img");
    img.alt = alt || name;
    img.decoding = "async";
    img.addEventListener("load", () => { img.dataset.loaded = "1"; });
    img.addEventListener("error", () => { img.dataset.broken = "1"; });
    img.src = imageURL(name);
    return img;
  }

  // ---------------------------------------------------------------- errors
  function describeDetail(detail, status) {
    if (typeof detail === "string") return detail;
    if (Array.isArray(detail)) {
      return detail.map((d) => {
        if (!d || typeof d !== "object") return String(d);
        const loc = Array.isArray(d.loc) ? d.loc.filter((p) => p !== "body").join(".") : "";
        return (loc ? loc + "：" : "") + (d.msg || JSON.stringify(d));
      }).join("；");
    }
    return detail ? JSON.stringify(detail) : "HTTP " + status;
  }

  async function errorText(res) {
    let detail = null;
    try { detail = (await res.json()).detail; } catch (_) { /* not JSON */ }
    const what = {
      400: "请求有误", 401: "需要 API 密钥", 404: "未找到", 408: "上传超时", 413: "文件太大",
      415: "格式不支持", 422: "输入有误", 503: "服务正在启动",
    }[res.status] || "出错了";
    return what + "（" + res.status + "）：" + describeDetail(detail, res.status);
  }

  function showError(msg) {
    errorEl.textContent = msg;
    errorEl.hidden = !msg;
  }

  // ---------------------------------------------------------------- picking an image
  function clearChosen() {
    chosen.hidden = true;
    chosenImg.removeAttribute("src");
    chosenImg.classList.remove("broken");
    chosenName.textContent = "";
    chosenCaption.textContent = "";
    if (photoURL) { URL.revokeObjectURL(photoURL); photoURL = null; }
  }

  let lookup = 0;
  async function pickCatalog(name) {
    name = name.trim();
    imageInput.value = name;
    photoInput.value = "";
    clearChosen();
    if (!name) return;
    chosen.hidden = false;
    chosenImg.src = imageURL(name);
    chosenName.textContent = name;
    const mine = ++lookup;
    try {
      const res = await api("/v1/products/" + name.split("/").map(encodeURIComponent).join("/"));
      if (mine !== lookup) return;
      if (res.ok) {
        const p = await res.json();
        chosenCaption.textContent = p.caption || "（无商品说明）";
        chosenCaption.classList.remove("bad");
      } else {
        chosenCaption.textContent = res.status === 404 ? "目录中没有这张图片" : await errorText(res);
        chosenCaption.classList.add("bad");
      }
    } catch (_) { /* offline: the ask will say so */ }
  }

  function pickPhoto() {
    const file = photoInput.files && photoInput.files[0];
    imageInput.value = "";
    clearChosen();
    if (!file) return;
    photoURL = URL.createObjectURL(file);
    chosen.hidden = false;
    chosenImg.src = photoURL;
    chosenName.textContent = "上传：" + file.name;
    chosenCaption.textContent = (file.size / 1024).toFixed(0) + " KB";
    chosenCaption.classList.remove("bad");
  }

  chosenImg.addEventListener("error", () => chosenImg.classList.add("broken"));
  chosenImg.addEventListener("load", () => chosenImg.classList.remove("broken"));
  imageInput.addEventListener("change", () => pickCatalog(imageInput.value));
  photoInput.addEventListener("change", pickPhoto);
  $("chosen-clear").addEventListener("click", () => {
    imageInput.value = "";
    photoInput.value = "";
    clearChosen();
  });

  // ---------------------------------------------------------------- search view
  searchToggle.addEventListener("click", () => {
    searchBox.hidden = !searchBox.hidden;
    searchToggle.setAttribute("aria-expanded", String(!searchBox.hidden));
    if (!searchBox.hidden) searchQ.focus();
  });
  searchQ.addEventListener("keydown", (e) => {
    if (e.key === "Enter") { e.preventDefault(); runSearch(false); }
  });
  $("search-go").addEventListener("click", () => runSearch(false));

  // Facet chips (facets.js): counts per value over the query's candidates; a chip toggles
  // its filter and searches again.
  const withPhoto = $("search-with-photo");
  const facets = window.tuwenFacets($("facets"), { api, el, onToggle: () => runSearch(true) });
  let facetQ = null;

  async function runSearch(keepFilters) {
    const q = searchQ.value.trim();
    if (!q) { searchQ.focus(); return; }
    if (keepFilters !== true || q !== facetQ) facets.clear();
    facetQ = q;
    searchStatus.textContent = "搜索中…";
    searchResults.replaceChildren();
    try {
      const file = photoInput.files && photoInput.files[0];
      const name = imageInput.value.trim();
      let res;
      if (withPhoto.checked && (file || name)) {
        const body = new FormData();
        body.append("q", q);
        body.append("k", "12");
        if (file) body.append("photo", file); else body.append("image", name);
        for (const [f, v] of facets.pairs()) body.append(f, v);
        res = await api("/v1/search", { method: "POST", body });
      } else {
        res = await api("/v1/search?" + new URLSearchParams([["q", q], ["k", "12"], ...facets.pairs()]));
      }
      if (!res.ok) { searchStatus.textContent = await errorText(res); return; }
      facets.show(q).catch(() => { /* counts are optional */ });
      const data = await res.json();
      searchStatus.textContent = data.results.length
        ? "找到 " + data.results.length + " 件商品，点击图片即可选中。"
        : "没有找到相关商品。";
      for (const r of data.results) {
        const b = el("button", "tile pick");
        b.type = "button";
        b.title = r.image;
        b.append(photoImg(r.image, r.caption || r.image), captionOf(r),
          el("span", "file", r.image), el("span", "score", "相关度 " + Number(r.score).toFixed(3)));
        b.addEventListener("click", () => {
          for (const t of searchResults.querySelectorAll(".picked")) t.classList.remove("picked");
          b.classList.add("picked");
          pickCatalog(r.image);
          question.focus();
        });
        searchResults.append(b);
      }
    } catch (e) {
      searchStatus.textContent = "网络错误：" + e.message;
    }
  }

  // ---------------------------------------------------------------- asking
  for (const chip of document.querySelectorAll("#examples .chip")) {
    chip.addEventListener("click", () => { question.value = chip.textContent; question.focus(); });
  }
  question.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) { e.preventDefault(); form.requestSubmit(); }
  });
  form.addEventListener("submit", (e) => { e.preventDefault(); ask(); });

  function setBusy(busy, text) {
    askBtn.disabled = busy;
    statusEl.textContent = text || "";
  }

  async function ask() {
    const q = question.value.trim();
    if (!q) { showError("请先输入问题。"); question.focus(); return; }
    const file = photoInput.files && photoInput.files[0];
    const image = imageInput.value.trim();
    let body, headers = {};
    if (file) {
      body = new FormData();
      body.append("question", q);
      body.append("photo", file, file.name);
    } else {
      body = JSON.stringify(image ? { question: q, image } : { question: q });
      headers = { "Content-Type": "application/json" };
      const share = new URLSearchParams({ q });
      if (image) share.set("image", image);
      history.replaceState(null, "", "?" + share);
    }
    if (inflight) inflight.abort();
    const ctrl = (inflight = new AbortController());

    showError("");
    result.hidden = false;
    answerEl.textContent = "";
    answerEl.classList.add("streaming");
    metaEl.textContent = "";
    citedTitle.hidden = true;
    citations.replaceChildren();
    setBusy(true, "正在回答…");
    let done = false;
    try {
      const res = await api("/v1/ask?stream=true", {
        method: "POST", body, headers, signal: ctrl.signal,
      });
      if (!res.ok) { result.hidden = true; showError(await errorText(res)); return; }
      await readEvents(res.body, (event, data) => {
        if (event === "token") {
          answerEl.textContent += data.text;
        } else if (event === "answer") {
          done = true;
          render(data);
        } else if (event === "error") {
          done = true;
          showError("回答失败：" + describeDetail(data.detail));
        }
      });
      if (!done) showError("连接中断，回答不完整。");
    } catch (e) {
      if (e.name !== "AbortError") showError("网络错误：" + e.message);
    } finally {
      if (inflight === ctrl) {
        inflight = null;
        answerEl.classList.remove("streaming");
        setBusy(false, "");
      }
    }
  }

  // Parse a text/event-stream body: blocks split by a blank line, "event:" and "data:" fields.
  async function readEvents(stream, onEvent) {
    const reader = stream.getReader();
    const decoder = new TextDecoder();
    let buf = "";
    const flush = (block) => {
      let event = "message";
      const data = [];
      for (const line of block.split("\n")) {
        if (line.startsWith(":")) continue;
        const i = line.indexOf(":");
        const field = i < 0 ? line : line.slice(0, i);
        let value = i < 0 ? "" : line.slice(i + 1);
        if (value.startsWith(" ")) value = value.slice(1);
        if (field === "event") event = value;
        else if (field === "data") data.push(value);
      }
      if (!data.length) return;
      let parsed;
      try { parsed = JSON.parse(data.join("\n")); } catch (_) { return; }
      onEvent(event, parsed);
    };
    for (;;) {
      const { value, done } = await reader.read();
      buf += decoder.decode(value || new Uint8Array(), { stream: !done });
      buf = buf.replace(/\r\n?/g, "\n");
      let cut;
      while ((cut = buf.indexOf("\n\n")) >= 0) {
        flush(buf.slice(0, cut));
        buf = buf.slice(cut + 2);
      }
      if (done) break;
    }
    if (buf.trim()) flush(buf);
  }

  function render(a) {
    const retrieve = a.kind === "retrieve";
    answerEl.textContent = retrieve && a.answer ? "最相关的商品图片：" + a.answer : a.answer || "（没有答案）";

    const kind = KINDS[a.kind] || a.kind;
    const parts = ["类型：" + kind + (a.attribute ? "（" + (ATTRS[a.attribute] || a.attribute) + "）" : "")];
    parts.push("后端：" + a.backend);
    const t = a.timings || {};
    const total = Object.values(t).reduce((s, v) => s + (Number(v) || 0), 0);
    parts.push("耗时 " + total.toFixed(0) + " ms（" + Object.keys(t)
      .map((k) => (STAGES[k] || k) + " " + Number(t[k]).toFixed(1)).join(" · ") + "）");
    if (a.image) parts.push("提问图片：" + a.image);
    const dropped = a.meta && a.meta.dropped_citations;
    if (Array.isArray(dropped) && dropped.length) parts.push("已忽略无效引用：" + dropped.join("、"));
    metaEl.textContent = parts.join(" ｜ ");

    const cites = a.citations || [];
    citedTitle.textContent = retrieve ? "候选商品（按相关度排序）" : "引用的商品图片";
    citedTitle.hidden = !cites.length;
    citations.classList.toggle("ranked", retrieve);
    citations.replaceChildren(...cites.map((c, i) => {
      const fig = el("figure", "tile" + (retrieve && i === 0 ? " best" : ""));
      if (retrieve) fig.append(el("span", "rank", i + 1));
      const img = photoImg(c.image, c.caption || c.image);
      img.className = "cited";
      const cap = el("figcaption");
      cap.append(captionOf(c),
        el("span", "file", c.image), el("span", "score", "相关度 " + Number(c.score).toFixed(3)));
      fig.append(img, cap);
      return fig;
    }));
  }

  // A caption, marked "generated" when a captioner wrote it for a photo that had none.
  function captionOf(item) {
    const cap = el("span", "cap", item.caption || "（无商品说明）");
    if (item.caption && item.caption_source === "generated") {
      const mark = el("span", "generated", "自动生成");
      mark.title = "这条说明由模型根据图片生成，不是商品自带的说明";
      cap.prepend(mark, " ");
    }
    return cap;
  }

  // ---------------------------------------------------------------- ?q=…&image=… on load
  const params = new URLSearchParams(location.search);
  if (params.get("image")) pickCatalog(params.get("image"));
  if (params.get("q")) {
    question.value = params.get("q");
    ask();
  }
})();
