// TorchSharp 0.107.0's libLibTorchSharp.so asks for GLIBCXX_3.4.32, which Debian 12's libstdc++
// (up to 3.4.30) lacks. The only symbol behind that version is the marker
// std::ios_base_library_init(), so marking the requirement weak (VER_FLG_WEAK on its Vernaux entry
// in .gnu.version_r) lets the dynamic loader accept the library.
//
// One file, two users: MSBuild compiles it as an inline task (RoslynCodeTaskFactory, against
// netstandard2.0, see LibTorchSharp.targets) that patches at build time; the library links it with
// APT_LIBRARY defined to read the same flag, and every C++ runtime version libtorch asks for, for
// `aptnb doctor` and its load-failure message.
using System;
using System.Collections.Generic;
using System.IO;
using System.Text;
#if !APT_LIBRARY
using Microsoft.Build.Framework;
using Microsoft.Build.Utilities;

public sealed class WeakenElfVersionNeed : Task
{
    /// <summary>ELF shared objects to patch in place.</summary>
    [Required] public ITaskItem[] Files { get; set; } = Array.Empty<ITaskItem>();

    /// <summary>The version requirement to weaken, e.g. GLIBCXX_3.4.32.</summary>
    [Required] public string Version { get; set; } = "";

    /// <summary>The system libstdc++ consulted to decide whether the patch is needed at all.</summary>
    public string SystemLibrary { get; set; } = "/usr/lib/x86_64-linux-gnu/libstdc++.so.6";

    public override bool Execute()
    {
        if (!File.Exists(SystemLibrary) || ElfVersionNeed.Defines(SystemLibrary, Version)) return true;
        foreach (var item in Files)
        {
            try
            {
                if (ElfVersionNeed.Weaken(item.ItemSpec, Version))
                    Log.LogMessage(MessageImportance.High, $"LibTorchSharp: marked {Version} weak in {item.ItemSpec} (system libstdc++ lacks it)");
            }
            catch (Exception e) when (e is IOException || e is InvalidDataException || e is UnauthorizedAccessException)
            {
                Log.LogError($"LibTorchSharp: could not patch {item.ItemSpec}: {e.Message}");
            }
        }
        return !Log.HasLoggedErrors;
    }
}
#endif

/// <summary>
/// Reads and sets the flags of an ELF64 file's version requirements (.gnu.version_r). Reads only the headers and the two
/// sections involved, since libtorch_cpu.so is half a gigabyte.
/// </summary>
public static class ElfVersionNeed
{
    const uint ShtGnuVerneed = 0x6ffffffe;
    const ushort VerFlagWeak = 0x2;

    /// <summary>One version a file asks of a library it links, e.g. GLIBCXX_3.4.32 of libstdc++.so.6.</summary>
    public sealed class Requirement
    {
        public Requirement(string library, string version, bool weak) { Library = library; Version = version; Weak = weak; }
        public string Library { get; }
        public string Version { get; }
        /// <summary>VER_FLG_WEAK: the loader accepts a library that lacks the version.</summary>
        public bool Weak { get; }
    }

    /// <summary>Whether a shared library defines a symbol version (its name stands NUL-terminated in the string table).</summary>
    public static bool Defines(string library, string version)
    {
        string text = Encoding.ASCII.GetString(File.ReadAllBytes(library));
        return text.IndexOf("\0" + version + "\0", StringComparison.Ordinal) >= 0;
    }

    /// <summary>Every version requirement of the file, in file order; none for a file without .gnu.version_r.</summary>
    public static Requirement[] Requirements(string path)
    {
        using (var stream = File.OpenRead(path))
        {
            var found = new List<Requirement>();
            foreach (var entry in Entries(stream))
                found.Add(new Requirement(entry.Library, entry.Version, (entry.Flags & VerFlagWeak) != 0));
            return found.ToArray();
        }
    }

    /// <summary>Whether the requirement of <paramref name="version"/> is weak, or absent (null when absent).</summary>
    public static bool? IsWeak(string path, string version)
    {
        foreach (var requirement in Requirements(path))
            if (requirement.Version == version) return requirement.Weak;
        return null;
    }

    /// <summary>Sets VER_FLG_WEAK on the requirement; false when already weak or absent. A two-byte write in place.</summary>
    public static bool Weaken(string path, string version)
    {
        using (var stream = new FileStream(path, FileMode.Open, FileAccess.ReadWrite))
        {
            foreach (var entry in Entries(stream))
            {
                if (entry.Version != version) continue;
                if ((entry.Flags & VerFlagWeak) != 0) return false;
                stream.Position = entry.FlagsOffset;
                stream.Write(BitConverter.GetBytes((ushort)(entry.Flags | VerFlagWeak)), 0, 2);
                return true;
            }
        }
        return false;
    }

    struct Entry
    {
        public string Library, Version;
        public ushort Flags;
        public long FlagsOffset;
    }

    /// <summary>The Vernaux entries of the file, with the file offset of each one's vna_flags.</summary>
    static List<Entry> Entries(FileStream stream)
    {
        byte[] header = Read(stream, 0, (int)Math.Min(64, stream.Length));
        if (header.Length < 64 || header[0] != 0x7f || header[1] != (byte)'E' || header[4] != 2 || header[5] != 1)
            throw new InvalidDataException("not a little-endian 64-bit ELF file");
        long sectionsAt = checked((long)BitConverter.ToUInt64(header, 0x28));
        int size = BitConverter.ToUInt16(header, 0x3a), count = BitConverter.ToUInt16(header, 0x3c);
        byte[] sections = Read(stream, sectionsAt, size * count);
        var entries = new List<Entry>();
        for (int s = 0; s < count; s++)
        {
            if (BitConverter.ToUInt32(sections, s * size + 4) != ShtGnuVerneed) continue;
            long at = checked((long)BitConverter.ToUInt64(sections, s * size + 0x18));
            byte[] need = Read(stream, at, checked((int)BitConverter.ToUInt64(sections, s * size + 0x20)));
            int link = (int)BitConverter.ToUInt32(sections, s * size + 0x28);
            byte[] strings = Read(stream, checked((long)BitConverter.ToUInt64(sections, link * size + 0x18)),
                checked((int)BitConverter.ToUInt64(sections, link * size + 0x20)));
            for (int entry = 0; entry < need.Length; )
            {
                string library = Text(strings, BitConverter.ToUInt32(need, entry + 4));
                int aux = entry + (int)BitConverter.ToUInt32(need, entry + 8);
                for (int a = 0; a < BitConverter.ToUInt16(need, entry + 2); a++)
                {
                    entries.Add(new Entry
                    {
                        Library = library,
                        Version = Text(strings, BitConverter.ToUInt32(need, aux + 8)),
                        Flags = BitConverter.ToUInt16(need, aux + 4),
                        FlagsOffset = at + aux + 4,
                    });
                    aux += (int)BitConverter.ToUInt32(need, aux + 12);
                }
                uint next = BitConverter.ToUInt32(need, entry + 12);
                if (next == 0) break;
                entry += (int)next;
            }
        }
        return entries;
    }

    static byte[] Read(FileStream stream, long offset, int count)
    {
        if (offset < 0 || offset + count > stream.Length)
            throw new InvalidDataException("ELF header points past the end of the file");
        var buffer = new byte[count];
        stream.Position = offset;
        for (int read = 0; read < count; )
        {
            int n = stream.Read(buffer, read, count - read);
            if (n == 0) throw new EndOfStreamException();
            read += n;
        }
        return buffer;
    }

    static string Text(byte[] strings, uint offset) =>
        Encoding.ASCII.GetString(strings, (int)offset, Array.IndexOf(strings, (byte)0, (int)offset) - (int)offset);
}
