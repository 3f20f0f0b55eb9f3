using System.Collections;
using System.ComponentModel;
using System.Globalization;
using System.Reflection;
using System.Runtime.Serialization;
using Meshgate.Configuration.Model;
using Meshgate.Configuration.Validation;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace Meshgate.Configuration.Parsing;

/// <summary>
/// Turns YAML into definition records. Written against YamlDotNet's node model rather than its
/// deserializer so that every key keeps its line, unknown keys are errors, and one bad value does
/// not hide the next: the reader reports every problem it finds and carries on.
/// </summary>
public static class ConfigReader
{
    public sealed record Result(MeshgateDefinition? Definition, IReadOnlyList<ConfigError> Errors, SourceMap SourceMap);

    public static Result Read(string yaml, string? file = null)
    {
        var map = new SourceMap(file);
        var errors = new List<ConfigError>();
        YamlStream stream = new();
        try
        {
            stream.Load(new StringReader(yaml));
        }
        catch (YamlException e)
        {
            errors.Add(new ConfigError("", $"not valid YAML: {e.InnerException?.Message ?? e.Message}") { File = file, Line = (int)e.Start.Line });
            return new Result(null, errors, map);
        }
        catch (InvalidOperationException)
        {
            // YamlDotNet's scanner throws this instead of a YamlException when the text ends inside a flow collection.
            var lines = yaml.ReplaceLineEndings("\n").TrimEnd('\n').Count(c => c == '\n') + 1;
            errors.Add(new ConfigError("", "not valid YAML: the file ends inside a [ ] or { } that is not closed") { File = file, Line = lines });
            return new Result(null, errors, map);
        }

        if (stream.Documents.Count == 0 || IsNull(stream.Documents[0].RootNode))
        {
            errors.Add(new ConfigError("", "the file is empty") { File = file });
            return new Result(null, errors, map);
        }
        if (stream.Documents.Count > 1)
        {
            errors.Add(new ConfigError("", "expected one YAML document, found several") { File = file, Line = (int)stream.Documents[1].RootNode.Start.Line });
        }

        var reader = new Reader(map, errors, file);
        var definition = (MeshgateDefinition?)reader.ReadObject(stream.Documents[0].RootNode, typeof(MeshgateDefinition), "");
        return new Result(errors.Count == 0 ? definition : null, errors, map);
    }

    /// <summary>
    /// Reads one object of the config (a route, a cluster, a named policy) from a node, with the same rules as a
    /// whole file: unknown keys, wrong types and missing required keys are errors, with paths relative to the object.
    /// The admin write API feeds it request bodies (see <see cref="YamlNodes.FromJson"/>).
    /// </summary>
    public static (T? Value, IReadOnlyList<ConfigError> Errors) ReadObject<T>(YamlNode node) where T : class
    {
        var errors = new List<ConfigError>();
        var value = (T?)new Reader(new SourceMap(null), errors, null).ReadObject(node, typeof(T), "");
        if (value is null && errors.Count == 0) errors.Add(new ConfigError("", "the body is empty (null)"));
        return (errors.Count == 0 ? value : null, errors);
    }

    /// <summary>YAML's null: ~, null, or no value at all (`key:`).</summary>
    private static bool IsNull(YamlNode node) =>
        node is YamlScalarNode { Value: null or "~" } or YamlScalarNode { Value: "" or "null", Style: ScalarStyle.Plain };

    /// <summary>The YAML key for a property: its name in camelCase.</summary>
    public static string KeyOf(PropertyInfo property) =>
        property.GetCustomAttribute<ConfigKeyAttribute>()?.Key ?? char.ToLowerInvariant(property.Name[0]) + property.Name[1..];

    /// <summary>The YAML spelling of an enum value: EnumMember's value, else kebab-case (RoundRobin -> round-robin).</summary>
    public static string EnumName(Type enumType, object value)
    {
        var name = Enum.GetName(enumType, value)!;
        var member = enumType.GetField(name)!.GetCustomAttribute<EnumMemberAttribute>();
        return member?.Value ?? Kebab(name);
    }

    /// <summary>
    /// An enum's values, boxed as the enum, in Enum.GetValues' order. Enum.GetValues(Type) makes an array of the enum
    /// type, which a Native AOT build has not compiled for an enum it only meets by reflection (the config model's).
    /// </summary>
    public static IEnumerable<object> EnumValues(Type enumType) =>
        Enum.GetValuesAsUnderlyingType(enumType).Cast<object>().Select(v => Enum.ToObject(enumType, v));

    private static string Kebab(string name)
    {
        var chars = new List<char>(name.Length + 4);
        for (var i = 0; i < name.Length; i++)
        {
            if (char.IsUpper(name[i]) && i > 0) chars.Add('-');
            chars.Add(char.ToLowerInvariant(name[i]));
        }
        return new string([.. chars]);
    }

    /// <summary>Properties the reader binds: public, settable, in declaration order.</summary>
    public static IEnumerable<PropertyInfo> BindableProperties(Type type) =>
        type.GetProperties(BindingFlags.Public | BindingFlags.Instance).Where(p => p.CanWrite && p.Name != "EqualityContract");

    private sealed class Reader(SourceMap map, List<ConfigError> errors, string? file)
    {
        private void Error(string path, YamlNode node, string message) =>
            errors.Add(new ConfigError(path, message) { File = file, Line = (int)node.Start.Line });

        public object? ReadObject(YamlNode node, Type type, string path)
        {
            map.Record(path, (int)node.Start.Line);
            var target = Nullable.GetUnderlyingType(type) ?? type;

            if (IsNull(node))
            {
                return null;
            }
            if (target == typeof(string)) return Scalar(node, path, "a string", s => (true, s));
            if (target == typeof(bool)) return Scalar(node, path, "true or false", s => bool.TryParse(s, out var b) ? (true, b) : (false, null));
            if (target == typeof(int)) return Scalar(node, path, "a whole number", s => int.TryParse(s, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var n) ? (true, n) : (false, null));
            if (target == typeof(long)) return Scalar(node, path, "a whole number", s => long.TryParse(s, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var n) ? (true, n) : (false, null));
            if (target == typeof(double)) return Scalar(node, path, "a number", s => double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out var n) ? (true, n) : (false, null));
            if (target == typeof(TimeSpan)) return Scalar(node, path, "a duration with a unit, like 250ms, 5s, 2m or 1h", s => Duration.TryParse(s, out var d) ? (true, d) : (false, null));
            if (target == typeof(ByteSize)) return Scalar(node, path, "a size like 1024, 64KiB or 10MiB", s => ByteSize.TryParse(s, out var b) ? (true, b) : (false, null));
            if (target.IsEnum) return ReadEnum(node, target, path);
            if (target.IsGenericType && target.GetGenericTypeDefinition() == typeof(List<>)) return ReadList(node, target, path);
            if (target.IsGenericType && target.GetGenericTypeDefinition() == typeof(Dictionary<,>)) return ReadDictionary(node, target, path);
            return ReadRecord(node, target, path);
        }

        private object? Scalar(YamlNode node, string path, string expected, Func<string, (bool Ok, object? Value)> parse)
        {
            if (node is not YamlScalarNode scalar)
            {
                Error(path, node, $"expected {expected}, found a {Describe(node)}");
                return null;
            }
            var (ok, value) = parse(scalar.Value!);
            if (!ok) Error(path, node, $"expected {expected}, found '{scalar.Value}'");
            return value;
        }

        private object? ReadEnum(YamlNode node, Type type, string path)
        {
            var names = EnumValues(type).Select(v => (Name: EnumName(type, v), Value: v)).ToList();
            var allowed = string.Join(", ", names.Select(n => n.Name));
            return Scalar(node, path, $"one of {allowed}", s =>
            {
                var hit = names.FirstOrDefault(n => string.Equals(n.Name, s, StringComparison.OrdinalIgnoreCase));
                return hit.Name is null ? (false, null) : (true, hit.Value);
            });
        }

        private object? ReadList(YamlNode node, Type type, string path)
        {
            if (node is not YamlSequenceNode sequence)
            {
                Error(path, node, $"expected a list, found a {Describe(node)}");
                return null;
            }
            var itemType = type.GetGenericArguments()[0];
            var list = (IList)Activator.CreateInstance(type)!;
            var i = 0;
            foreach (var item in sequence)
            {
                var value = ReadObject(item, itemType, $"{path}[{i++}]");
                if (value is not null) list.Add(value);
            }
            return list;
        }

        private object? ReadDictionary(YamlNode node, Type type, string path)
        {
            if (node is not YamlMappingNode mapping)
            {
                Error(path, node, $"expected a mapping, found a {Describe(node)}");
                return null;
            }
            var valueType = type.GetGenericArguments()[1];
            var dictionary = (IDictionary)Activator.CreateInstance(type, StringComparer.OrdinalIgnoreCase)!;
            foreach (var (keyNode, valueNode) in mapping)
            {
                var key = ((YamlScalarNode)keyNode).Value ?? "";
                var childPath = $"{path}.{key}";
                if (dictionary.Contains(key))
                {
                    Error(childPath, keyNode, $"'{key}' appears twice");
                    continue;
                }
                map.Record(childPath, (int)keyNode.Start.Line);
                var value = ReadObject(valueNode, valueType, childPath);
                if (value is not null) dictionary[key] = value;
            }
            return dictionary;
        }

        private object? ReadRecord(YamlNode node, Type type, string path)
        {
            var properties = BindableProperties(type).ToDictionary(KeyOf, StringComparer.Ordinal);
            var instance = Activator.CreateInstance(type)!;

            if (node is YamlScalarNode scalar && type.GetCustomAttribute<ScalarShorthandAttribute>() is { } shorthand)
            {
                type.GetProperty(shorthand.Property)!.SetValue(instance, scalar.Value);
                return instance;
            }
            if (node is not YamlMappingNode mapping)
            {
                Error(path, node, $"expected a mapping with keys {string.Join(", ", properties.Keys)}; found a {Describe(node)}");
                return null;
            }

            var seen = new HashSet<string>(StringComparer.Ordinal);
            foreach (var (keyNode, valueNode) in mapping)
            {
                var key = (keyNode as YamlScalarNode)?.Value ?? "";
                var childPath = path.Length == 0 ? key : $"{path}.{key}";
                if (!properties.TryGetValue(key, out var property))
                {
                    Error(childPath, keyNode, $"unknown key '{key}'{Suggest(key, properties.Keys)}");
                    continue;
                }
                if (!seen.Add(key))
                {
                    Error(childPath, keyNode, $"'{key}' appears twice");
                    continue;
                }
                map.Record(childPath, (int)keyNode.Start.Line);
                var value = property.GetCustomAttribute<ScalarOrListAttribute>() is not null && valueNode is YamlScalarNode && !IsNull(valueNode)
                    ? ReadObject(new YamlSequenceNode(valueNode), property.PropertyType, childPath)
                    : ReadObject(valueNode, property.PropertyType, childPath);
                if (value is not null) property.SetValue(instance, value);
                else if (property.GetCustomAttribute<RequiredAttribute>() is not null && IsNull(valueNode))
                {
                    // Present but null would otherwise pass as set and reach the validator and compiler as null.
                    Error(childPath, keyNode, $"required key '{key}' has no value");
                }
            }

            foreach (var (key, property) in properties)
            {
                if (property.GetCustomAttribute<RequiredAttribute>() is not null && !seen.Contains(key))
                {
                    Error(path.Length == 0 ? key : $"{path}.{key}", node, $"required key '{key}' is missing");
                }
            }
            return instance;
        }

        private static string Suggest(string key, IEnumerable<string> known)
        {
            var best = Spelling.Closest(key, known);
            return best is null ? $" (known keys: {string.Join(", ", known)})" : $" (did you mean '{best}'?)";
        }

        private static string Describe(YamlNode node) => node switch
        {
            YamlMappingNode => "mapping",
            YamlSequenceNode => "list",
            YamlScalarNode s => $"scalar '{s.Value}'",
            _ => node.NodeType.ToString(),
        };
    }
}
