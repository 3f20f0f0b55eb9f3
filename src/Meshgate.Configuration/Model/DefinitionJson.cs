using System.Collections;
using System.Reflection;
using System.Text.Json.Nodes;
using Meshgate.Configuration.Parsing;

namespace Meshgate.Configuration.Model;

/// <summary>
/// A definition as JSON with the same keys and value spellings as the YAML (5s, 1MiB, round-robin),
/// and every [Secret] value replaced, for the admin API.
/// </summary>
public static class DefinitionJson
{
    public const string Redacted = "[redacted]";

    public static JsonNode? ToJson(object? value) => ToJson(value, Shown);

    /// <summary>
    /// The definition as it is stored (the admin API's writes to the config file): secrets kept, and keys whose
    /// value is the default left out, so the file holds what the operator set rather than every default.
    /// </summary>
    public static JsonNode? ToStoredJson(object? value) => ToJson(value, Stored);

    private sealed record Options(bool Redact, bool OmitDefaults);

    private static readonly Options Shown = new(Redact: true, OmitDefaults: false);
    private static readonly Options Stored = new(Redact: false, OmitDefaults: true);

    /// <summary>A fresh instance per record type: what the reader leaves in a property whose key is absent.</summary>
    private static readonly System.Collections.Concurrent.ConcurrentDictionary<Type, object> Defaults = new();

    private static JsonNode? ToJson(object? value, Options options)
    {
        switch (value)
        {
            case null: return null;
            case string s: return JsonValue.Create(s);
            case bool b: return JsonValue.Create(b);
            case int i: return JsonValue.Create(i);
            case long l: return JsonValue.Create(l);
            case double d: return JsonValue.Create(d);
            case TimeSpan t: return JsonValue.Create(Duration.Format(t));
            case ByteSize size: return JsonValue.Create(size.ToString());
            case Enum e: return JsonValue.Create(ConfigReader.EnumName(e.GetType(), e));
            case IDictionary dictionary:
            {
                var obj = new JsonObject();
                foreach (DictionaryEntry entry in dictionary) obj[(string)entry.Key] = ToJson(entry.Value, options);
                return obj;
            }
            case IEnumerable list:
                return new JsonArray(list.Cast<object?>().Select(item => ToJson(item, options)).ToArray());
            default:
            {
                var obj = new JsonObject();
                var defaults = options.OmitDefaults ? Defaults.GetOrAdd(value.GetType(), type => Activator.CreateInstance(type)!) : null;
                foreach (var property in ConfigReader.BindableProperties(value.GetType()))
                {
                    var item = property.GetValue(value);
                    if (item is null) continue;
                    if (options.Redact && property.GetCustomAttribute<SecretAttribute>() is not null)
                    {
                        obj[ConfigReader.KeyOf(property)] = JsonValue.Create(Redacted);
                        continue;
                    }
                    var json = ToJson(item, options);
                    if (defaults is not null && property.GetCustomAttribute<RequiredAttribute>() is null
                        && JsonNode.DeepEquals(json, ToJson(property.GetValue(defaults), options)))
                    {
                        continue;
                    }
                    obj[ConfigReader.KeyOf(property)] = json;
                }
                return obj;
            }
        }
    }
}
