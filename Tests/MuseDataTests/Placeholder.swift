import XCTest
// Temporary: replaced by this target's real tests.
final class PlaceholderTests: XCTestCase {}
