/// One mention's answer as `biotag link` writes it and `POST /v1/link` returns it:
/// `{"text", "concepts": [{"id", "name", "score", "stage"}]}`, best first, and for a composite
/// mention "parts", one such list per concept it names.
public func linkAnswerObject(text: String, parts: [[LinkCandidate]]) -> [String: Any] {
    func json(_ candidates: [LinkCandidate]) -> [[String: Any]] {
        candidates.map { ["id": $0.id, "name": $0.name, "score": (Double($0.score) * 10_000).rounded() / 10_000, "stage": $0.stage.rawValue] }
    }
    var object: [String: Any] = ["text": text, "concepts": json(parts.first ?? [])]
    if parts.count > 1 { object["parts"] = parts.map(json) }
    return object
}
