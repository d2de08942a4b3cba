import Foundation
import Hummingbird

/// A request that matches no route (an unknown path, or a known path with
/// another method) gets the API's usual answer: a 404 with `{"error": ...}`
/// naming the method and path (shortened) and where the page and the API are,
/// instead of the router's bare 404.
struct UnknownRouteMiddleware: RouterMiddleware {
    typealias Context = BasicRequestContext

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let e as HTTPError where e.status == .notFound {
            return ServeApp.errorResponse(ServeError(404, Self.message(method: "\(request.method)", path: request.uri.path)))
        }
    }

    static func message(method: String, path: String) -> String {
        let shown = path.count > 80 ? path.prefix(80) + "..." : Substring(path)
        return "no route \(method) \(shown): the page is GET /, the API is under /api/ (see docs/serve.md)"
    }
}
