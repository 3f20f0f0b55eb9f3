using System.Collections;
using System.ComponentModel;
using System.Reflection;
using System.Text.Json;
using System.Text.Json.Nodes;
using Meshgate.Configuration.Model;
using Meshgate.Configuration.Parsing;

namespace Meshgate.Configuration.Schema;

/// <summary>
/// The JSON Schema of the config file, generated from the same definition types the reader binds,
/// so the published schema cannot drift from what the gateway accepts.
/// </summary>
public static class ConfigSchema
{
    public static string Generate()
    {
        var defs = new SortedDictionary<string, JsonNode>(StringComparer.Ordinal);
        var root = (JsonObject)ObjectSchema(typeof(MeshgateDefinition), defs);
        var schema = new JsonObject
        {
            ["$schema"] = "https://json-schema.org/draft/2020-12/schema",
            ["$id"] = "https://meshgate.dev/schema/meshgate.schema.json",
            ["title"] = "Meshgate config",
        };
        foreach (var (key, value) in root.ToList())
        {
            root.Remove(key);
            schema[key] = value;
        }
        var defsObject = new JsonObject();
        foreach (var (name, def) in defs) defsObject[name] = def;
        schema["$defs"] = defsObject;
        return schema.ToJsonString(new JsonSerializerOptions { WriteIndented = true }) + "\n";
    }

    private static JsonNode ObjectSchema(Type type, SortedDictionary<string, JsonNode> defs)
    {
        var properties = new JsonObject();
        var required = new JsonArray();
        var defaults = Activator.CreateInstance(type);
        foreach (var property in ConfigReader.BindableProperties(type))
        {
            var key = ConfigReader.KeyOf(property);
            var schema = TypeSchema(property.PropertyType, defs);
            if (property.GetCustomAttribute<ScalarOrListAttribute>() is not null) schema = new JsonObject { ["oneOf"] = new JsonArray(schema["items"]!.DeepClone(), schema) };
            if (property.GetCustomAttribute<DescriptionAttribute>() is { } description)
            {
                schema = schema is JsonObject o && !o.ContainsKey("$ref") ? o : new JsonObject { ["allOf"] = new JsonArray(schema) };
                schema["description"] = description.Description;
            }
            if (DefaultOf(property.GetValue(defaults)) is { } value) schema["default"] = value;
            properties[key] = schema;
            if (property.GetCustomAttribute<RequiredAttribute>() is not null) required.Add((JsonNode)key);
        }
        var result = new JsonObject
        {
            ["type"] = "object",
            ["additionalProperties"] = false,
            ["properties"] = properties,
        };
        if (required.Count > 0) result["required"] = required;
        if (type.GetCustomAttribute<DescriptionAttribute>() is { } typeDescription) result["description"] = typeDescription.Description;
        return result;
    }

    private static JsonNode TypeSchema(Type type, SortedDictionary<string, JsonNode> defs)
    {
        type = Nullable.GetUnderlyingType(type) ?? type;
        if (type == typeof(string)) return new JsonObject { ["type"] = "string" };
        if (type == typeof(bool)) return new JsonObject { ["type"] = "boolean" };
        if (type == typeof(int) || type == typeof(long)) return new JsonObject { ["type"] = "integer" };
        if (type == typeof(double)) return new JsonObject { ["type"] = "number" };
        if (type == typeof(TimeSpan)) return new JsonObject { ["type"] = "string", ["pattern"] = "^-?[0-9]+(\\.[0-9]+)?(ms|s|m|h)$" };
        if (type == typeof(ByteSize))
        {
            return new JsonObject
            {
                ["oneOf"] = new JsonArray(
                    new JsonObject { ["type"] = "integer", ["minimum"] = 0 },
                    new JsonObject { ["type"] = "string", ["pattern"] = "^[0-9]+ ?(B|KB|MB|GB|KiB|MiB|GiB)?$" }),
            };
        }
        if (type.IsEnum)
        {
            return new JsonObject { ["enum"] = new JsonArray(ConfigReader.EnumValues(type).Select(v => (JsonNode)JsonValue.Create(ConfigReader.EnumName(type, v))!).ToArray()) };
        }
        if (type.IsGenericType && type.GetGenericTypeDefinition() == typeof(List<>))
        {
            return new JsonObject { ["type"] = "array", ["items"] = TypeSchema(type.GetGenericArguments()[0], defs) };
        }
        if (type.IsGenericType && type.GetGenericTypeDefinition() == typeof(Dictionary<,>))
        {
            return new JsonObject { ["type"] = "object", ["additionalProperties"] = TypeSchema(type.GetGenericArguments()[1], defs) };
        }

        var name = type.Name.Replace("Definition", "", StringComparison.Ordinal);
        if (!defs.ContainsKey(name))
        {
            defs[name] = new JsonObject(); // placeholder against recursion
            var schema = ObjectSchema(type, defs);
            if (type.GetCustomAttribute<ScalarShorthandAttribute>() is not null)
            {
                schema = new JsonObject { ["oneOf"] = new JsonArray(new JsonObject { ["type"] = "string" }, schema) };
            }
            defs[name] = schema;
        }
        return new JsonObject { ["$ref"] = $"#/$defs/{name}" };
    }

    private static JsonNode? DefaultOf(object? value) => value switch
    {
        null => null,
        ICollection { Count: 0 } => null,
        string or bool or int or long or double or TimeSpan or ByteSize or Enum => DefinitionJson.ToJson(value),
        _ => null,
    };
}
