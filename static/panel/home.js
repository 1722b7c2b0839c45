// The panel's home: shows (create, go live, end, viewer link, embed snippet) and products
// (create, edit, restock, import from a CSV or another shop's export). Every change goes through the HTTP API.

import { ApiError, sessionApi } from "../common/api.js";
import { formatMoney, formatShortDateTime, moneyInput, parseMoney } from "../common/format.js";
import { $, clear, flash, h } from "./dom.js";
import { embedSnippet, copyText } from "./embed.js";
import { problem } from "./feedback.js";
import { t } from "../common/i18n.js";

const api = sessionApi("/host/login");
const publicBase = document.querySelector("[data-public-base]").dataset.publicBase;

// -- shows ---------------------------------------------------------------------------------------

async function loadShows() {
  const { shows } = await api("/api/shows");
  const list = clear($("#show-list"));
  if (!shows.length) list.append(h("li", { class: "muted" }, t("home.no_shows")));
  for (const show of shows) list.append(showItem(show));
}

function showItem(show) {
  const viewerUrl = `${publicBase}/s/${encodeURIComponent(show.slug)}`;
  const snippet = embedSnippet(publicBase, show);
  const when = show.status === "live" ? t("home.live_since", { when: formatShortDateTime(show.started_at) })
    : show.status === "ended" ? t("home.ended_at", { when: formatShortDateTime(show.ended_at) })
    : show.scheduled_at ? t("home.scheduled_for", { when: formatShortDateTime(show.scheduled_at) }) : t("home.not_scheduled");
  const snippetId = `embed-${show.slug}`;
  const act = async (button, verb) => {
    if (verb === "end" && !window.confirm(t("home.end_confirm", { title: show.title }))) return;
    button.disabled = true;
    try {
      await api(`/api/shows/${encodeURIComponent(show.slug)}/${verb}`, { method: "POST" });
      flash(verb === "start" ? t("home.is_live", { title: show.title }) : t("home.has_ended", { title: show.title }), "ok");
      await loadShows();
    } catch (err) {
      flash(problem(err));
      button.disabled = false;
    }
  };
  const li = h("li", { dataset: { slug: show.slug, status: show.status } },
    h("div", { class: "show-row" },
      h("div", { class: "grow" },
        h("h3", {}, show.title, " ", h("span", { class: "badge", "data-status": show.status }, show.status)),
        h("div", { class: "muted small" }, `/${show.slug} · ${when}`)),
      h("a", { class: "btn btn-primary", href: `/host/shows/${encodeURIComponent(show.slug)}` }, t("home.open_screen")),
      show.status === "scheduled" ? h("button", { type: "button", class: "btn", onclick: (e) => act(e.currentTarget, "start") }, t("home.go_live")) : null,
      show.status === "live" ? h("button", { type: "button", class: "btn btn-danger", onclick: (e) => act(e.currentTarget, "end") }, t("home.end")) : null,
      h("a", { class: "btn btn-quiet", href: viewerUrl, target: "_blank", rel: "noopener" }, t("home.viewer_page"))),
    h("div", { class: "embed-row" },
      h("label", { class: "sr-only", for: snippetId }, t("home.embed_for", { title: show.title })),
      h("input", { id: snippetId, readonly: true, value: snippet, onfocus: (e) => e.target.select() }),
      h("button", { type: "button", class: "btn btn-quiet", onclick: async () => {
        flash(await copyText(snippet, document.getElementById(snippetId)) ? t("panel.embed.copied") : t("panel.embed.press_ctrl_c"), "ok");
      } }, t("home.copy_embed"))));
  return li;
}

$("#show-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = event.currentTarget;
  const error = $("#show-form-error");
  error.textContent = "";
  const body = { title: form.title.value.trim() };
  if (form.slug.value.trim()) body.slug = form.slug.value.trim();
  if (form.scheduled.value) body.scheduled_at = new Date(form.scheduled.value).getTime();
  const button = form.querySelector("button[type=submit]");
  button.disabled = true;
  try {
    const show = await api("/api/shows", { method: "POST", body });
    form.reset();
    flash(t("home.show_created", { title: show.title, slug: show.slug }), "ok");
    await loadShows();
  } catch (err) {
    error.textContent = problem(err);
  } finally {
    button.disabled = false;
  }
});

// -- products ------------------------------------------------------------------------------------

let sizeCounter = 0;

function sizeRow(sku = "", label = "", stock = "") {
  const n = ++sizeCounter;
  const row = h("tr", {},
    h("td", {}, h("label", { class: "sr-only", for: `size-sku-${n}` }, "SKU"),
      h("input", { id: `size-sku-${n}`, name: "sku", required: true, maxlength: 64, value: sku, placeholder: "AUR-42" })),
    h("td", {}, h("label", { class: "sr-only", for: `size-label-${n}` }, t("home.size")),
      h("input", { id: `size-label-${n}`, name: "label", required: true, maxlength: 64, value: label, placeholder: t("home.size_placeholder") })),
    h("td", {}, h("label", { class: "sr-only", for: `size-stock-${n}` }, t("home.stock")),
      h("input", { id: `size-stock-${n}`, name: "stock", type: "number", min: 0, required: true, value: stock, placeholder: "10" })),
    h("td", {}, h("button", { type: "button", class: "btn btn-quiet btn-small", "aria-label": t("home.remove_size"),
      onclick: () => { if ($("#size-rows").children.length > 1) row.remove(); } }, "✕")));
  return row;
}

$("#add-size").addEventListener("click", () => {
  const row = sizeRow();
  $("#size-rows").append(row);
  row.querySelector("input").focus();
});
$("#size-rows").append(sizeRow());

$("#product-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = event.currentTarget;
  const error = $("#product-form-error");
  error.textContent = "";
  const currency = form.currency.value.trim().toUpperCase();
  const price = parseMoney(form.price.value, currency);
  if (price === null) {
    error.textContent = t("home.bad_price");
    form.price.focus();
    return;
  }
  const variants = [...$("#size-rows").querySelectorAll("tr")].map((tr) => ({
    sku: tr.querySelector("[name=sku]").value.trim(),
    label: tr.querySelector("[name=label]").value.trim(),
    stock: Number.parseInt(tr.querySelector("[name=stock]").value, 10),
  }));
  const bad = variants.find((v) => !v.sku || !v.label || !Number.isInteger(v.stock) || v.stock < 0);
  if (bad) {
    error.textContent = t("home.bad_sizes");
    return;
  }
  const body = { title: form.title.value.trim(), description: form.description.value.trim(), price_cents: price, currency, variants };
  if (form.image_url.value.trim()) body.image_url = form.image_url.value.trim();
  const button = form.querySelector("button[type=submit]");
  button.disabled = true;
  try {
    const product = await api("/api/products", { method: "POST", body });
    form.reset();
    clear($("#size-rows")).append(sizeRow());
    flash(t("home.product_created", { title: product.title }), "ok");
    await loadProducts();
  } catch (err) {
    error.textContent = problem(err);
  } finally {
    button.disabled = false;
  }
});

// The import's format: livedrop's CSV (the default), or another shop's export, which needs the
// shop's currency (the exports do not say it; docs/shop-import.md).
const IMPORT_TYPES = { "livedrop-csv": "text/csv; charset=utf-8", "shopify-json": "application/json", "woocommerce-csv": "text/csv; charset=utf-8" };
$("#csv-format").addEventListener("change", (event) => {
  $("#csv-currency-field").hidden = event.currentTarget.value === "livedrop-csv";
});

function importPlace(p) {
  return p.line !== undefined ? t("home.import_line", { line: p.line }) : p.product !== undefined ? t("home.import_product", { title: p.product }) : t("home.import_file");
}

$("#csv-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = event.currentTarget;
  const result = clear($("#csv-result"));
  const file = $("#csv-file").files[0];
  const format = $("#csv-format").value;
  if (!file) {
    result.append(h("p", { class: "alert alert-error" }, t("home.choose_file")));
    return;
  }
  const query = new URLSearchParams({ format });
  if (format !== "livedrop-csv") {
    const currency = $("#csv-currency").value.trim().toUpperCase();
    if (!/^[A-Z]{3}$/.test(currency)) {
      result.append(h("p", { class: "alert alert-error" }, t("home.bad_currency")));
      $("#csv-currency").focus();
      return;
    }
    query.set("currency", currency);
  }
  const button = form.querySelector("button[type=submit]");
  button.disabled = true;
  try {
    const answer = await api(`/api/products/import?${query}`, { method: "POST", body: await file.text(), contentType: IMPORT_TYPES[format] });
    result.append(h("p", { class: "alert alert-ok" }, t("home.imported", { n: answer.created })));
    if (answer.notices && answer.notices.length) {
      result.append(h("ul", { class: "csv-notices", id: "csv-notices" },
        answer.notices.map((n) => h("li", {}, `${importPlace(n)}: ${n.message}`))));
    }
    form.reset();
    $("#csv-currency-field").hidden = true;
    await loadProducts();
  } catch (err) {
    const problems = err instanceof ApiError ? err.body?.error?.errors : null;
    if (problems && problems.length) {
      result.append(
        h("p", { class: "alert alert-error" }, t("home.nothing_imported", { n: problems.length })),
        h("ul", { class: "csv-errors", id: "csv-errors" },
          problems.map((p) => h("li", { dataset: { line: p.line ?? "", field: p.field } }, `${importPlace(p)} · ${p.field}: ${p.message}`))));
    } else {
      result.append(h("p", { class: "alert alert-error" }, problem(err)));
    }
  } finally {
    button.disabled = false;
  }
});

async function loadProducts() {
  const { products } = await api("/api/products");
  const list = clear($("#product-list"));
  if (!products.length) list.append(h("li", { class: "muted" }, t("home.no_products")));
  for (const product of products) list.append(productItem(product));
}

function productItem(product) {
  const li = h("li", { dataset: { productId: product.id } });
  const render = (p) => {
    clear(li);
    const total = p.variants.reduce((n, v) => n + v.stock, 0);
    const editButton = h("button", { type: "button", class: "btn btn-small", "aria-expanded": "false" }, t("home.edit_restock"));
    const row = h("div", { class: "product-row" },
      p.image_url ? h("img", { class: "thumb", src: p.image_url, alt: "" }) : h("div", { class: "thumb", "aria-hidden": "true" }),
      h("div", {},
        h("h3", {}, p.title),
        h("div", { class: "muted small" }, t("home.units_loaded", { price: formatMoney(p.price_cents, p.currency), n: total })),
        h("div", { class: "chips" }, p.variants.map((v) => h("span", { class: "chip" }, `${v.label} · ${v.sku} · ${v.stock}`)))),
      editButton);
    editButton.addEventListener("click", () => {
      const open = row.querySelector(".edit-box");
      if (open) {
        open.remove();
        editButton.setAttribute("aria-expanded", "false");
      } else {
        row.append(editForm(p, render));
        editButton.setAttribute("aria-expanded", "true");
        row.querySelector(".edit-box input").focus();
      }
    });
    li.append(row);
  };
  render(product);
  return li;
}

function editForm(p, render) {
  const id = `edit-${p.id}`;
  const field = (name, label, value, attrs = {}) => h("div", { class: "field" },
    h("label", { for: `${id}-${name}` }, label), h("input", { id: `${id}-${name}`, name, value: value ?? "", ...attrs }));
  const restockRows = p.variants.map((v) => h("tr", { dataset: { sku: v.sku, stock: v.stock } },
    h("td", {}, h("label", { class: "sr-only", for: `${id}-label-${v.id}` }, t("home.size_label_of", { sku: v.sku })),
      h("input", { id: `${id}-label-${v.id}`, name: "label", value: v.label, maxlength: 64 })),
    h("td", { class: "small" }, t("home.sku_loaded", { sku: v.sku, n: v.stock })),
    h("td", {}, h("label", { class: "sr-only", for: `${id}-add-${v.id}` }, t("home.units_to_add", { size: v.label })),
      h("input", { id: `${id}-add-${v.id}`, name: "add", type: "number", min: 0, placeholder: t("home.units_placeholder") }))));
  const newSizes = h("tbody", {});
  const error = h("p", { class: "error-text", role: "alert" });
  const form = h("form", { class: "stack edit-box", "aria-label": t("home.edit", { title: p.title }) },
    h("div", { class: "form-grid" },
      field("title", t("home.title"), p.title, { required: true, maxlength: 200 }),
      field("price", t("home.price"), moneyInput(p.price_cents, p.currency), { required: true, inputmode: "decimal" }),
      field("image_url", t("home.image_url"), p.image_url || "", { maxlength: 2000 })),
    h("div", { class: "field" }, h("label", { for: `${id}-description` }, t("home.description")),
      h("textarea", { id: `${id}-description`, name: "description", rows: 2, maxlength: 5000 }, p.description || "")),
    h("table", { class: "size-table" },
      h("thead", {}, h("tr", {}, h("th", { scope: "col" }, t("home.size")), h("th", { scope: "col" }, t("home.sku_stock")), h("th", { scope: "col" }, t("home.restock")))),
      h("tbody", {}, restockRows)),
    h("table", { class: "size-table" }, newSizes),
    h("button", { type: "button", class: "btn btn-quiet btn-small", onclick: () => newSizes.append(sizeRow()) }, t("home.add_a_size")),
    error,
    h("div", {}, h("button", { type: "submit", class: "btn btn-primary" }, t("home.save"))));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    error.textContent = "";
    const price = parseMoney(form.price.value, p.currency);
    if (price === null) {
      error.textContent = t("home.bad_price");
      return;
    }
    const body = { title: form.title.value.trim(), description: form.description.value.trim(), price_cents: price };
    body.image_url = form.image_url.value.trim() || null;
    const variants = [];
    for (const tr of restockRows) {
      const patch = { sku: tr.dataset.sku };
      const label = tr.querySelector("[name=label]").value.trim();
      const add = tr.querySelector("[name=add]").value.trim();
      if (label) patch.label = label;
      if (add) {
        const n = Number.parseInt(add, 10);
        if (!Number.isInteger(n) || n < 0) {
          error.textContent = t("home.bad_restock", { sku: tr.dataset.sku });
          return;
        }
        patch.stock = Number(tr.dataset.stock) + n;
      }
      variants.push(patch);
    }
    for (const tr of newSizes.querySelectorAll("tr")) {
      const sku = tr.querySelector("[name=sku]").value.trim();
      if (!sku) continue;
      variants.push({ sku, label: tr.querySelector("[name=label]").value.trim(), stock: Number.parseInt(tr.querySelector("[name=stock]").value, 10) || 0 });
    }
    body.variants = variants;
    try {
      const saved = await api(`/api/products/${p.id}`, { method: "PATCH", body });
      flash(t("home.saved", { title: saved.title }), "ok");
      render(saved);
    } catch (err) {
      error.textContent = problem(err);
    }
  });
  return form;
}

Promise.all([loadShows(), loadProducts()]).catch((err) => flash(problem(err)));
