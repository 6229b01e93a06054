// The console's only script: the group picker on the Settings page. It
// asks the server for groups once three letters are typed, and renders
// every name with textContent, never as HTML.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  const search = document.getElementById("group-search");
  const hits = document.getElementById("group-hits");
  const picked = document.getElementById("picked");
  if (!picked) return;

  const pick = (name) => {
    for (const input of picked.querySelectorAll("input[name=group]")) {
      if (input.value === name) return;
    }
    const li = document.createElement("li");
    const input = document.createElement("input");
    input.type = "hidden";
    input.name = "group";
    input.value = name;
    const remove = document.createElement("button");
    remove.type = "button";
    remove.className = "link unpick";
    remove.textContent = "remove";
    li.append(input, document.createTextNode(name + " "), remove);
    picked.append(li);
  };
  picked.addEventListener("click", (ev) => {
    if (ev.target.classList.contains("unpick")) ev.target.closest("li").remove();
  });
  if (!search) return;

  let seq = 0;
  const show = (items, note) => {
    hits.replaceChildren();
    if (note) {
      const li = document.createElement("li");
      li.className = "small";
      li.textContent = note;
      hits.append(li);
    }
    for (const g of items) {
      const li = document.createElement("li");
      const b = document.createElement("button");
      b.type = "button";
      b.className = "hit";
      b.textContent = g.name;
      b.title = g.dn || g.id;
      b.addEventListener("click", () => { pick(g.name); hits.replaceChildren(); search.value = ""; });
      li.append(b);
      hits.append(li);
    }
  };
  search.addEventListener("input", async () => {
    const prefix = search.value.trim();
    const mine = ++seq;
    if ([...prefix].length < 3) { show([], prefix ? "Type at least three letters." : ""); return; }
    try {
      const res = await fetch(search.dataset.url + "?prefix=" + encodeURIComponent(prefix), {headers: {"Accept": "application/json"}});
      const body = await res.json();
      if (mine !== seq) return; // a later keystroke won
      if (!res.ok) { show([], body.error || "The search failed."); return; }
      // A prefix-only directory says so in body.note.
      show(body.groups, [body.groups.length ? "" : "No group matches that.", body.note || ""].join(" ").trim());
    } catch (e) {
      if (mine === seq) show([], "The search failed: " + e.message);
    }
  });
  search.addEventListener("keydown", (ev) => { if (ev.key === "Enter") ev.preventDefault(); });
});
