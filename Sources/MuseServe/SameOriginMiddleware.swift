import Foundation
import Hummingbird

/// Refuses requests that another web site makes through the user's browser:
///
/// - a `Host` that is not one this server answers to (`localhost`, `127.0.0.1`,
///   `::1`, the `--host` address and any `--allow-host` name): DNS rebinding,
///   where an attacker's name points at 127.0.0.1, so that their page can read
///   the history and uploads;
/// - an `Origin` (sent by browsers on cross-origin requests and on every POST)
///   whose host is not one of those: another site's page queueing, cancelling or
///   rerunning jobs;
/// - a run submitted without `Content-Type: application/json`, which a page of
///   another site cannot send without a CORS preflight that this server never grants.
///
/// Each refusal is a 403 (415 for the content type) with a message.
struct SameOriginMiddleware: RouterMiddleware {
    typealias Context = BasicRequestContext
    let allowedHosts: Set<String>

    init(allowedHosts: [String]) {
        self.allowedHosts = Set((["localhost", "127.0.0.1", "::1"] + allowedHosts).map { $0.lowercased() })
    }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        if let refused = refusal(authority: request.head.authority, origin: request.headers[.origin],
                                 isRunSubmission: request.method == .post && request.uri.path == "/api/jobs",
                                 contentType: request.headers[.contentType]) {
            return ServeApp.errorResponse(refused)
        }
        return try await next(request, context)
    }

    /// Why a request is refused, or nil to let it through.
    func refusal(authority: String?, origin: String?, isRunSubmission: Bool, contentType: String?) -> ServeError? {
        if let authority, !allowedHosts.contains(Self.hostname(ofAuthority: authority)) {
            return ServeError(403, "this server answers to \(allowedHosts.sorted().joined(separator: ", ")), not '\(authority.prefix(80))' (start it with --allow-host NAME to add a name)")
        }
        if let origin {
            let host = URL(string: origin)?.host?.lowercased().trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
            guard let host, allowedHosts.contains(host) else {
                return ServeError(403, "requests from the page of another site ('\(origin.prefix(80))') are refused")
            }
        }
        if isRunSubmission, !(contentType?.lowercased().hasPrefix("application/json") ?? false) {
            return ServeError(415, "a run is submitted as JSON: send Content-Type: application/json")
        }
        return nil
    }

    /// `127.0.0.1:8080` -> `127.0.0.1`, `[::1]:8080` -> `::1`, `localhost` -> `localhost`.
    static func hostname(ofAuthority a: String) -> String {
        let lower = a.lowercased()
        if lower.hasPrefix("["), let end = lower.firstIndex(of: "]") { return String(lower[lower.index(after: lower.startIndex)..<end]) }
        if lower.filter({ $0 == ":" }).count == 1, let colon = lower.firstIndex(of: ":") { return String(lower[..<colon]) }
        return lower
    }
}
