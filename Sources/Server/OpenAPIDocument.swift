import Annotation
import Foundation

/// `GET /openapi.json`: the service's routes, bodies and statuses in OpenAPI 3.1.
/// `AnnotationServiceTests.everyRouteIsDocumented` calls every route and checks each answer's
/// status against this document, and `make test` validates it and runs schemathesis with it
/// against a live server. The heads and linkers of the running model are its enums.
enum OpenAPIDocument {
    static func json(tasks: [String], linkers: [String]) -> String {
        func list(_ names: [String]) -> String { names.map { JSONText.string($0) }.joined(separator: ", ") }
        return template.replacingOccurrences(of: #""enum": ["__TASKS__"]"#, with: #""enum": ["# + list(tasks) + "]")
            .replacingOccurrences(of: #""enum": ["__LINKERS__"]"#, with: linkers.isEmpty ? #""enum": [null]"# : #""enum": ["# + list(linkers) + "]")
    }

    private static let template = #"""
{
  "openapi": "3.1.0",
  "info": {
    "title": "biotag",
    "version": "1",
    "description": "Biomedical named-entity recognition, one shared encoder with a head per entity type, and linking to ontology concepts. Offsets count Unicode scalars. Requests of all clients are annotated together in token-budget batches; each answer depends on its own texts only.",
    "license": {"name": "See the model's licences (GET /v1/info)"}
  },
  "paths": {
    "/": {
      "get": {
        "summary": "The web page: paste a text, see its entities",
        "operationId": "page",
        "responses": {"200": {"description": "HTML", "content": {"text/html": {"schema": {"type": "string"}}}}}
      }
    },
    "/openapi.json": {
      "get": {
        "summary": "This document",
        "operationId": "openapi",
        "responses": {"200": {"description": "OpenAPI 3.1", "content": {"application/json": {"schema": {"type": "object"}}}}}
      }
    },
    "/health": {
      "get": {
        "summary": "200 while the process runs",
        "operationId": "health",
        "responses": {"200": {"$ref": "#/components/responses/Status"}}
      }
    },
    "/ready": {
      "get": {
        "summary": "200 while requests are taken, 503 once the server is stopping",
        "operationId": "ready",
        "responses": {"200": {"$ref": "#/components/responses/Status"}, "503": {"$ref": "#/components/responses/Status"}}
      }
    },
    "/metrics": {
      "get": {
        "summary": "Prometheus metrics: requests by route and status, latency, queue depth, batch sizes in tokens, tokens annotated",
        "operationId": "metrics",
        "responses": {"200": {"description": "Prometheus text format 0.0.4", "content": {"text/plain": {"schema": {"type": "string"}}}}}
      }
    },
    "/v1/info": {
      "get": {
        "summary": "The model, its heads and linkers, the limits",
        "operationId": "info",
        "security": [{}, {"bearer": []}],
        "responses": {
          "200": {"description": "What this server runs", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Info"}}}},
          "401": {"$ref": "#/components/responses/Error"}
        }
      }
    },
    "/v1/annotate": {
      "post": {
        "summary": "Entities (and, where linked, concepts) of texts or records",
        "operationId": "annotate",
        "security": [{}, {"bearer": []}],
        "parameters": [
          {"name": "tasks", "in": "query", "description": "Heads to report, comma-separated (where the body does not say; the only way for a BioC body)", "schema": {"type": "string"}},
          {"name": "link", "in": "query", "description": "Link entities to concepts (where the body does not say)", "schema": {"type": "string", "enum": ["true", "false"]}},
          {"name": "aggregation", "in": "query", "description": "How wordpieces become words (where the body does not say)", "schema": {"type": "string", "enum": ["simple", "first", "average", "max"]}}
        ],
        "requestBody": {"required": true, "content": {
          "application/json": {"schema": {"$ref": "#/components/schemas/AnnotateRequest"}},
          "application/x-bioc+xml": {"schema": {"type": "string", "description": "A BioC XML collection; the answer is the same collection with its annotations, in BioC XML"}},
          "application/x-bioc+json": {"schema": {"type": "object", "description": "A BioC JSON collection (as PubTator3 writes it); the answer is the same collection with its annotations, in BioC JSON"}}
        }},
        "responses": {
          "200": {"description": "One document per text or record, in order, each as `biotag annotate --to jsonl` writes it; for a BioC body, the collection in the same format",
                  "content": {
                    "application/json": {"schema": {"type": "object", "required": ["documents"], "properties": {"documents": {"type": "array", "items": {"$ref": "#/components/schemas/Document"}}}}},
                    "application/x-bioc+xml": {"schema": {"type": "string"}},
                    "application/x-bioc+json": {"schema": {"type": "object"}}
                  }},
          "400": {"$ref": "#/components/responses/Error"},
          "401": {"$ref": "#/components/responses/Error"},
          "413": {"$ref": "#/components/responses/Error"},
          "422": {"$ref": "#/components/responses/Error"},
          "429": {"$ref": "#/components/responses/Overloaded"},
          "500": {"$ref": "#/components/responses/Error"},
          "503": {"$ref": "#/components/responses/Error"}
        }
      }
    },
    "/v1/tokenize": {
      "post": {
        "summary": "The model's wordpieces of texts, as `biotag tokenize` writes them",
        "operationId": "tokenize",
        "security": [{}, {"bearer": []}],
        "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Texts"}}}},
        "responses": {
          "200": {"description": "One tokenization per text, in order",
                  "content": {"application/json": {"schema": {"type": "object", "required": ["tokens"], "properties": {"tokens": {"type": "array", "items": {"$ref": "#/components/schemas/Tokenization"}}}}}}},
          "400": {"$ref": "#/components/responses/Error"},
          "401": {"$ref": "#/components/responses/Error"},
          "413": {"$ref": "#/components/responses/Error"},
          "422": {"$ref": "#/components/responses/Error"}
        }
      }
    },
    "/v1/link": {
      "post": {
        "summary": "Concepts of mentions, by the linker of their entity type, as `biotag link` writes them",
        "operationId": "link",
        "security": [{}, {"bearer": []}],
        "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/LinkRequest"}}}},
        "responses": {
          "200": {"description": "One answer per mention, in order",
                  "content": {"application/json": {"schema": {"type": "object", "required": ["results"], "properties": {"results": {"type": "array", "items": {"$ref": "#/components/schemas/LinkAnswer"}}}}}}},
          "400": {"$ref": "#/components/responses/Error"},
          "401": {"$ref": "#/components/responses/Error"},
          "413": {"$ref": "#/components/responses/Error"},
          "422": {"$ref": "#/components/responses/Error"}
        }
      }
    }
  },
  "components": {
    "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "description": "Only when the server runs with --api-key; X-API-Key: KEY is accepted too"}},
    "responses": {
      "Status": {"description": "The server's state", "content": {"application/json": {"schema": {"type": "object", "required": ["status"], "properties": {"status": {"type": "string", "enum": ["ok", "ready", "stopping"]}}}}}},
      "Error": {"description": "What was wrong, and where", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
      "Overloaded": {
        "description": "The queue is full: retry after the given seconds",
        "headers": {"Retry-After": {"schema": {"type": "integer", "minimum": 1}}},
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
      }
    },
    "schemas": {
      "Error": {
        "type": "object", "required": ["error"],
        "properties": {"error": {"type": "object", "required": ["message"], "properties": {"message": {"type": "string"}}}}
      },
      "Texts": {
        "type": "object", "required": ["texts"],
        "properties": {"texts": {"type": "array", "items": {"type": "string"}, "description": "At most --max-client-texts (256)"}}
      },
      "AnnotateRequest": {
        "type": "object",
        "description": "Either texts (ids \"0\", \"1\", …) or records with the fields that hold their text. An optional field that is null takes its default.",
        "properties": {
          "texts": {"type": "array", "items": {"type": "string"}},
          "records": {"type": "array", "items": {"type": "object"}, "description": "Objects with text fields (strings; a record's other fields are not read) and an id (string or number; default: its index)"},
          "text_fields": {"type": ["array", "null"], "items": {"type": "string"}, "minItems": 1, "default": ["text"]},
          "id_field": {"type": ["string", "null"], "default": "id"},
          "tasks": {"type": ["array", "null"], "items": {"type": "string", "enum": ["__TASKS__"]}, "description": "Heads to report (default: all)"},
          "aggregation": {"type": ["string", "null"], "enum": ["simple", "first", "average", "max", null], "description": "How wordpieces become words (default: the server's --aggregation)"},
          "link": {"type": ["boolean", "null"], "default": true, "description": "Link entities to concepts (when the server has linkers)"}
        },
        "oneOf": [{"required": ["texts"]}, {"required": ["records"]}]
      },
      "Document": {
        "type": "object", "required": ["id", "model", "entities"],
        "description": "Besides these, one string property per text field (\"text\" for a text).",
        "properties": {
          "id": {"type": "string"},
          "model": {"type": "object", "required": ["name", "version"], "properties": {"name": {"type": "string"}, "version": {"type": "string"}}},
          "infons": {"type": "object", "additionalProperties": {"type": "string"}},
          "entities": {"type": "array", "items": {"$ref": "#/components/schemas/Entity"}},
          "relations": {"type": "array", "items": {"$ref": "#/components/schemas/Relation"}, "description": "Relations between the document's concepts that the model's relation heads found (linked requests only; absent when none)"}
        },
        "additionalProperties": {"type": "string"}
      },
      "Relation": {
        "type": "object", "required": ["type", "arguments", "score"],
        "properties": {
          "type": {"type": "string", "description": "CID: a chemical-induced disease, document level"},
          "arguments": {"type": "array", "items": {"type": "object", "required": ["role", "concept"], "properties": {"role": {"type": "string"}, "concept": {"type": "string"}}}},
          "score": {"type": "number", "minimum": 0, "maximum": 1}
        }
      },
      "Entity": {
        "type": "object", "required": ["type", "start", "end", "text", "score"],
        "properties": {
          "field": {"type": "string", "description": "The text field it is in (records only)"},
          "type": {"type": "string"},
          "types": {"type": "array", "items": {"type": "string"}, "description": "Every head that found this span, when more than one did"},
          "start": {"type": "integer", "minimum": 0, "description": "Unicode scalars from the start of its field"},
          "end": {"type": "integer", "minimum": 0},
          "text": {"type": "string"},
          "score": {"type": "number", "minimum": 0, "maximum": 1},
          "concept": {"$ref": "#/components/schemas/Concept"},
          "concepts": {"type": "array", "items": {"$ref": "#/components/schemas/Concept"}, "description": "One per part of a composite mention"}
        }
      },
      "Concept": {
        "type": "object", "required": ["id", "name", "score"],
        "properties": {"id": {"type": "string"}, "name": {"type": "string"}, "score": {"type": "number"}}
      },
      "Tokenization": {
        "type": "object", "required": ["input_ids", "offsets", "tokens"],
        "properties": {
          "input_ids": {"type": "array", "items": {"type": "integer"}},
          "offsets": {"type": "array", "items": {"type": "array", "items": {"type": "integer"}, "minItems": 2, "maxItems": 2}},
          "tokens": {"type": "array", "items": {"type": "string"}}
        }
      },
      "LinkRequest": {
        "type": "object", "required": ["mentions"],
        "properties": {
          "mentions": {"type": "array", "items": {
            "type": "object", "required": ["text", "type"],
            "properties": {"text": {"type": "string"}, "type": {"type": "string", "enum": ["__LINKERS__"], "description": "The head whose linker links it"}, "context": {"type": ["string", "null"], "description": "The document's text, for its abbreviations"}}
          }},
          "top": {"type": ["integer", "null"], "minimum": 1, "maximum": 100, "default": 5}
        }
      },
      "LinkAnswer": {
        "type": "object", "required": ["text", "type", "concepts"],
        "properties": {
          "text": {"type": "string"}, "type": {"type": "string"},
          "concepts": {"type": "array", "items": {"$ref": "#/components/schemas/Candidate"}},
          "parts": {"type": "array", "items": {"type": "array", "items": {"$ref": "#/components/schemas/Candidate"}}}
        }
      },
      "Candidate": {
        "type": "object", "required": ["id", "name", "score", "stage"],
        "properties": {"id": {"type": "string"}, "name": {"type": "string"}, "score": {"type": "number"}, "stage": {"type": "string"}}
      },
      "Info": {
        "type": "object", "required": ["model", "tasks", "linkers", "cpu", "limits"],
        "properties": {
          "model": {"type": "object", "required": ["name", "version"], "properties": {"name": {"type": "string"}, "version": {"type": "string"}}},
          "tasks": {"type": "array", "items": {"type": "string"}},
          "linkers": {"type": "array", "items": {"type": "string"}},
          "cpu": {"type": "string", "description": "The kernels' instruction set"},
          "limits": {"type": "object"}
        }
      }
    }
  }
}
"""#
}
