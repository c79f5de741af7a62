import Annotation
import Foundation

/// Relation scores as the BioCreative V chemical-induced disease (CID) task counts them: per
/// document, the set of concept pairs (chemical, disease) of a relation type; precision, recall
/// and F1 micro-averaged over all documents. Concept ids are compared without a `MESH:` prefix
/// (PubTator files write bare MeSH ids, the linkers prefixed ones).
public struct RelationScore: Sendable, Codable, Equatable {
    public var gold = 0
    public var predicted = 0
    public var correct = 0
    public var precision: Double { predicted == 0 ? 0 : Double(correct) / Double(predicted) }
    public var recall: Double { gold == 0 ? 0 : Double(correct) / Double(gold) }
    public var f1: Double { precision + recall == 0 ? 0 : 2 * precision * recall / (precision + recall) }

    public init() {}

    /// Adds one document's pairs.
    public mutating func add(gold: Set<[String]>, predicted: Set<[String]>) {
        self.gold += gold.count
        self.predicted += predicted.count
        correct += gold.intersection(predicted).count
    }

    enum CodingKeys: String, CodingKey { case gold, predicted, correct, precision, recall, f1 }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(gold, forKey: .gold)
        try container.encode(predicted, forKey: .predicted)
        try container.encode(correct, forKey: .correct)
        try container.encode(precision, forKey: .precision)
        try container.encode(recall, forKey: .recall)
        try container.encode(f1, forKey: .f1)
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        gold = try container.decode(Int.self, forKey: .gold)
        predicted = try container.decode(Int.self, forKey: .predicted)
        correct = try container.decode(Int.self, forKey: .correct)
    }
}

public enum RelationPairs {
    /// A concept id as the evaluation compares it: without a `MESH:` prefix.
    public static func normalized(_ id: String) -> String {
        id.uppercased().hasPrefix("MESH:") ? String(id.dropFirst(5)) : id
    }

    /// The document's relations of `type` as concept tuples, in argument order.
    public static func relations(of document: Document, type: String) -> Set<[String]> {
        Set(document.relations.filter { $0.type == type }.map { $0.arguments.map { normalized($0.concept) } })
    }

    /// The concepts of the document's entities of `entityType` (compared case-insensitively, so
    /// a PubTator file's `Chemical` and the chemical head's `chemical` agree), every concept of a
    /// composite mention included.
    public static func concepts(of document: Document, entityType: String) -> Set<String> {
        let wanted = entityType.lowercased()
        var found = Set<String>()
        for passage in document.passages {
            for entity in passage.entities where entity.type.lowercased() == wanted || entity.otherTypes.contains(where: { $0.lowercased() == wanted }) {
                for concept in entity.concepts { found.insert(normalized(concept.id)) }
            }
        }
        return found
    }

    /// Every pair of a `first`-type concept and a `second`-type concept that occur in the same
    /// document: the candidates a relation head chooses from, and the co-occurrence baseline.
    public static func candidates(of document: Document, first: String, second: String) -> Set<[String]> {
        let a = concepts(of: document, entityType: first), b = concepts(of: document, entityType: second)
        return Set(a.flatMap { x in b.map { [x, $0] } })
    }
}

/// What a relation type's candidates and predictions score against gold, over a corpus.
public struct RelationEvaluation: Sendable, Codable {
    public var type: String
    public var documents = 0
    /// Documents of the gold corpus missing from the predictions (counted as predicting nothing).
    public var missing = 0
    /// Every co-occurring concept pair predicted: its recall is the most any relation head over
    /// these entities and concepts can find.
    public var cooccurrence = RelationScore()
    /// The relations the predicted documents carry (nil when none carries any).
    public var relations: RelationScore?

    /// - Parameters:
    ///   - roles: the entity types of the relation's arguments, in order (`CID`: chemical, disease).
    public init(gold: [Document], predicted: [Document], type: String, roles: (String, String)) {
        self.type = type
        let byId = Dictionary(predicted.map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
        var relationScore = RelationScore()
        var anyRelation = false
        for document in gold {
            documents += 1
            let goldPairs = RelationPairs.relations(of: document, type: type)
            guard let answer = byId[document.id] else {
                missing += 1
                cooccurrence.add(gold: goldPairs, predicted: [])
                relationScore.add(gold: goldPairs, predicted: [])
                continue
            }
            cooccurrence.add(gold: goldPairs, predicted: RelationPairs.candidates(of: answer, first: roles.0, second: roles.1))
            anyRelation = anyRelation || answer.relations.contains { $0.type == type }
            relationScore.add(gold: goldPairs, predicted: RelationPairs.relations(of: answer, type: type))
        }
        relations = anyRelation ? relationScore : nil
    }
}
