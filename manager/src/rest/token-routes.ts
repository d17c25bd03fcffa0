import type { TokenService } from "../token/token-service.js";
import { pageOf, paginationHeaders, parsePagination } from "./pagination.js";
import { idParam, type Router } from "./router.js";
import { tokenView } from "./views.js";

/** `/api/v1/personal-access-tokens`: the token value is in the creation answer only. */
export function addTokenRoutes(router: Router, prefix: string, tokens: TokenService): void {
  const base = `${prefix}/personal-access-tokens`;
  router.add("POST", base, async (context) => {
    const { record, token } = await tokens.create(await context.body());
    return { status: 200, body: { ...tokenView(record), token } };
  });
  router.add("GET", base, async (context) => {
    const pagination = parsePagination(context.url.searchParams);
    const all = await tokens.list();
    return {
      status: 200,
      body: pageOf(all, pagination).map(tokenView),
      headers: paginationHeaders(context.url, pagination, all.length),
    };
  });
  router.add("GET", `${base}/:id`, async (context) => ({
    status: 200,
    body: tokenView(await tokens.get(idParam(context))),
  }));
  router.add("PATCH", `${base}/:id`, async (context) => ({
    status: 200,
    body: tokenView(await tokens.update(idParam(context), await context.body())),
  }));
  router.add("DELETE", `${base}/:id`, async (context) => {
    await tokens.delete(idParam(context));
    return { status: 204 };
  });
}
