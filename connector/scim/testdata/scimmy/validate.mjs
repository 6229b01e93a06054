// Validates SCIM response bodies with scimmy (https://www.npmjs.com/package/scimmy),
// a SCIM implementation this project did not write.
//
// Input on stdin: a JSON array of {"kind": "User"|"Group"|"ListResponse"|"Error"|"other", "body": {...}}.
// Each body is coerced with scimmy's schema definitions (outbound direction);
// besides scimmy's own checks, every attribute of the body must survive the
// coercion (scimmy drops attributes it does not know silently). Exits 0 when
// every body passes, 1 with one line per rejection otherwise, 2 on bad usage.
//
// The scimmy package directory is named by DIRSYNC_SCIMMY_DIR
// (e.g. .tools/node_modules/scimmy, which scripts/test.sh installs).
import {readFileSync} from "node:fs";
import {join} from "node:path";
import {pathToFileURL} from "node:url";

const dir = process.env.DIRSYNC_SCIMMY_DIR;
if (!dir) {
    console.error("DIRSYNC_SCIMMY_DIR is not set");
    process.exit(2);
}
const {default: SCIMMY} = await import(pathToFileURL(join(dir, "dist", "scimmy.js")).href);

const user = SCIMMY.Schemas.User.definition;
user.extend(SCIMMY.Schemas.EnterpriseUser.definition, false);
const group = SCIMMY.Schemas.Group.definition;
const listURN = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
const errorURN = "urn:ietf:params:scim:api:messages:2.0:Error";

// every attribute name of body must be in coerced (ignoring case);
// schemas, and extension objects, are compared one level down.
function sameKeys(body, coerced, where) {
    const have = new Map(Object.keys(coerced).map(k => [k.toLowerCase(), k]));
    for (const [k, v] of Object.entries(body)) {
        const ck = have.get(k.toLowerCase());
        if (ck === undefined) throw new Error(`${where}: attribute '${k}' was dropped by the schema`);
        if (k.startsWith("urn:") && v && typeof v === "object") sameKeys(v, coerced[ck], `${where}.${k}`);
    }
}

function resource(def, body, kind) {
    if (!Array.isArray(body.schemas) || !body.schemas.includes(def.id)) throw new Error(`${kind}: schemas lacks ${def.id}`);
    if (typeof body.id !== "string" || body.id === "") throw new Error(`${kind}: no id`);
    const m = body.meta;
    if (!m || m.resourceType !== kind || !m.created || !m.lastModified || !m.location || !m.version)
        throw new Error(`${kind}: meta must hold resourceType, created, lastModified, location and version`);
    const coerced = def.coerce(body, "out");
    sameKeys(body, coerced, kind);
}

function validate({kind, body}) {
    switch (kind) {
        case "User": return resource(user, body, "User");
        case "Group": return resource(group, body, "Group");
        case "ListResponse": {
            if (JSON.stringify(body.schemas) !== JSON.stringify([listURN])) throw new Error("ListResponse: schemas");
            const r = new SCIMMY.Messages.ListResponse(body);
            for (const k of ["totalResults", "startIndex", "itemsPerPage"])
                if (!Number.isInteger(body[k])) throw new Error(`ListResponse: ${k} is not an integer`);
            if (!Array.isArray(body.Resources)) throw new Error("ListResponse: Resources is not an array");
            if (body.Resources.length !== body.itemsPerPage) throw new Error("ListResponse: itemsPerPage is not the page's length");
            if (r.totalResults !== body.totalResults) throw new Error("ListResponse: totalResults");
            return;
        }
        case "Error": {
            if (JSON.stringify(body.schemas) !== JSON.stringify([errorURN])) throw new Error("Error: schemas");
            if (typeof body.status !== "string") throw new Error("Error: status must be a string");
            const {status, scimType, detail} = body;
            const e = new SCIMMY.Messages.ErrorResponse({status, scimType, detail});
            for (const k of Object.keys(body)) if (!(k in e)) throw new Error(`Error: unknown member '${k}'`);
            return;
        }
        default:
            return;
    }
}

const input = JSON.parse(readFileSync(0, "utf8"));
if (!Array.isArray(input)) {
    console.error("stdin must be a JSON array");
    process.exit(2);
}
let failed = 0;
const kinds = {};
input.forEach((item, i) => {
    kinds[item.kind] = (kinds[item.kind] ?? 0) + 1;
    try {
        validate(item);
    } catch (e) {
        failed++;
        console.log(`#${i} ${item.kind}: ${e.message}: ${JSON.stringify(item.body).slice(0, 300)}`);
    }
});
console.log(`scimmy checked ${input.length} bodies ${JSON.stringify(kinds)}, ${failed} rejected`);
process.exit(failed ? 1 : 0);
