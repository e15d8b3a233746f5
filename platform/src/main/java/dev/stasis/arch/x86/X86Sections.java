package dev.stasis.arch.x86;

import dev.stasis.kvm.x86.CpuidEntry;
import dev.stasis.kvm.x86.DebugRegs;
import dev.stasis.kvm.x86.DescriptorTable;
import dev.stasis.kvm.x86.MsrEntry;
import dev.stasis.kvm.x86.Regs;
import dev.stasis.kvm.x86.Segment;
import dev.stasis.kvm.x86.Sregs;
import dev.stasis.kvm.x86.VcpuEvents;
import dev.stasis.kvm.x86.Xcr;
import dev.stasis.snapshot.state.StateDescription;

/** Field tables of the x86 vCPU register state, nested inside the {@code vcpu} section. */
final class X86Sections {
    private X86Sections() {}

    static final StateDescription<Regs> REGS = StateDescription.of("regs", Regs.class, 1)
            .u64("rax", Regs::rax).u64("rbx", Regs::rbx).u64("rcx", Regs::rcx).u64("rdx", Regs::rdx)
            .u64("rsi", Regs::rsi).u64("rdi", Regs::rdi).u64("rsp", Regs::rsp).u64("rbp", Regs::rbp)
            .u64("r8", Regs::r8).u64("r9", Regs::r9).u64("r10", Regs::r10).u64("r11", Regs::r11)
            .u64("r12", Regs::r12).u64("r13", Regs::r13).u64("r14", Regs::r14).u64("r15", Regs::r15)
            .u64("rip", Regs::rip).u64("rflags", Regs::rflags)
            .build(r -> new Regs(r.getLong("rax"), r.getLong("rbx"), r.getLong("rcx"), r.getLong("rdx"), r.getLong("rsi"),
                    r.getLong("rdi"), r.getLong("rsp"), r.getLong("rbp"), r.getLong("r8"), r.getLong("r9"), r.getLong("r10"),
                    r.getLong("r11"), r.getLong("r12"), r.getLong("r13"), r.getLong("r14"), r.getLong("r15"), r.getLong("rip"),
                    r.getLong("rflags")));

    static final StateDescription<Segment> SEGMENT = StateDescription.of("segment", Segment.class, 1)
            .u64("base", Segment::base).u32("limit", s -> Integer.toUnsignedLong(s.limit())).u16("selector", Segment::selector)
            .u8("type", Segment::type).bool("present", Segment::present).u8("dpl", Segment::dpl).bool("db", Segment::db)
            .bool("s", Segment::s).bool("l", Segment::l).bool("g", Segment::g).bool("avl", Segment::avl)
            .bool("unusable", Segment::unusable)
            .build(r -> new Segment(r.getLong("base"), r.getInt("limit"), r.getInt("selector"), r.getInt("type"), r.getBool("present"),
                    r.getInt("dpl"), r.getBool("db"), r.getBool("s"), r.getBool("l"), r.getBool("g"), r.getBool("avl"), r.getBool("unusable")));

    static final StateDescription<DescriptorTable> DTABLE = StateDescription.of("dtable", DescriptorTable.class, 1)
            .u64("base", DescriptorTable::base).u16("limit", DescriptorTable::limit)
            .build(r -> new DescriptorTable(r.getLong("base"), r.getInt("limit")));

    static final StateDescription<Sregs> SREGS = StateDescription.of("sregs", Sregs.class, 1)
            .struct("cs", SEGMENT, Sregs::cs).struct("ds", SEGMENT, Sregs::ds).struct("es", SEGMENT, Sregs::es)
            .struct("fs", SEGMENT, Sregs::fs).struct("gs", SEGMENT, Sregs::gs).struct("ss", SEGMENT, Sregs::ss)
            .struct("tr", SEGMENT, Sregs::tr).struct("ldt", SEGMENT, Sregs::ldt)
            .struct("gdt", DTABLE, Sregs::gdt).struct("idt", DTABLE, Sregs::idt)
            .u64("cr0", Sregs::cr0).u64("cr2", Sregs::cr2).u64("cr3", Sregs::cr3).u64("cr4", Sregs::cr4).u64("cr8", Sregs::cr8)
            .u64("efer", Sregs::efer).u64("apic_base", Sregs::apicBase).longs("interrupt_bitmap", Sregs::interruptBitmap)
            .build(r -> {
                long[] bitmap = r.getLongs("interrupt_bitmap");
                if (bitmap.length != 4) {
                    throw new IllegalArgumentException("interrupt_bitmap must have 4 words, has " + bitmap.length);
                }
                return new Sregs(seg(r, "cs"), seg(r, "ds"), seg(r, "es"), seg(r, "fs"), seg(r, "gs"), seg(r, "ss"), seg(r, "tr"),
                        seg(r, "ldt"), DTABLE.fromNormalized(r.getStruct("gdt")), DTABLE.fromNormalized(r.getStruct("idt")),
                        r.getLong("cr0"), r.getLong("cr2"), r.getLong("cr3"), r.getLong("cr4"), r.getLong("cr8"), r.getLong("efer"),
                        r.getLong("apic_base"), bitmap);
            });

    private static Segment seg(dev.stasis.snapshot.state.StateRecord r, String name) {
        return SEGMENT.fromNormalized(r.getStruct(name));
    }

    static final StateDescription<VcpuEvents> EVENTS = StateDescription.of("events", VcpuEvents.class, 1)
            .bool("exception_injected", VcpuEvents::exceptionInjected).u8("exception_nr", VcpuEvents::exceptionNr)
            .bool("exception_has_error_code", VcpuEvents::exceptionHasErrorCode).bool("exception_pending", VcpuEvents::exceptionPending)
            .u32("exception_error_code", e -> Integer.toUnsignedLong(e.exceptionErrorCode()))
            .bool("interrupt_injected", VcpuEvents::interruptInjected).u8("interrupt_nr", VcpuEvents::interruptNr)
            .u8("interrupt_soft", VcpuEvents::interruptSoft).u8("interrupt_shadow", VcpuEvents::interruptShadow)
            .bool("nmi_injected", VcpuEvents::nmiInjected).bool("nmi_pending", VcpuEvents::nmiPending).bool("nmi_masked", VcpuEvents::nmiMasked)
            .u32("sipi_vector", e -> Integer.toUnsignedLong(e.sipiVector())).u32("flags", e -> Integer.toUnsignedLong(e.flags()))
            .u8("smi_smm", VcpuEvents::smiSmm).u8("smi_pending", VcpuEvents::smiPending)
            .u8("smi_smm_inside_nmi", VcpuEvents::smiSmmInsideNmi).u8("smi_latched_init", VcpuEvents::smiLatchedInit)
            .bool("triple_fault_pending", VcpuEvents::tripleFaultPending)
            .bool("exception_has_payload", VcpuEvents::exceptionHasPayload).u64("exception_payload", VcpuEvents::exceptionPayload)
            .build(r -> new VcpuEvents(r.getBool("exception_injected"), r.getInt("exception_nr"), r.getBool("exception_has_error_code"),
                    r.getBool("exception_pending"), r.getInt("exception_error_code"), r.getBool("interrupt_injected"),
                    r.getInt("interrupt_nr"), r.getInt("interrupt_soft"), r.getInt("interrupt_shadow"), r.getBool("nmi_injected"),
                    r.getBool("nmi_pending"), r.getBool("nmi_masked"), r.getInt("sipi_vector"), r.getInt("flags"), r.getInt("smi_smm"),
                    r.getInt("smi_pending"), r.getInt("smi_smm_inside_nmi"), r.getInt("smi_latched_init"),
                    r.getBool("triple_fault_pending"), r.getBool("exception_has_payload"), r.getLong("exception_payload")));

    static final StateDescription<DebugRegs> DEBUGREGS = StateDescription.of("debugregs", DebugRegs.class, 1)
            .longs("db", DebugRegs::db).u64("dr6", DebugRegs::dr6).u64("dr7", DebugRegs::dr7).u64("flags", DebugRegs::flags)
            .build(r -> {
                long[] db = r.getLongs("db");
                if (db.length != 4) {
                    throw new IllegalArgumentException("db must have 4 registers, has " + db.length);
                }
                return new DebugRegs(db, r.getLong("dr6"), r.getLong("dr7"), r.getLong("flags"));
            });

    static final StateDescription<CpuidEntry> CPUID = StateDescription.of("cpuid_entry", CpuidEntry.class, 1)
            .u32("function", e -> Integer.toUnsignedLong(e.function())).u32("index", e -> Integer.toUnsignedLong(e.index()))
            .u32("flags", e -> Integer.toUnsignedLong(e.flags())).u32("eax", e -> Integer.toUnsignedLong(e.eax()))
            .u32("ebx", e -> Integer.toUnsignedLong(e.ebx())).u32("ecx", e -> Integer.toUnsignedLong(e.ecx()))
            .u32("edx", e -> Integer.toUnsignedLong(e.edx()))
            .build(r -> new CpuidEntry(r.getInt("function"), r.getInt("index"), r.getInt("flags"), r.getInt("eax"), r.getInt("ebx"),
                    r.getInt("ecx"), r.getInt("edx")));

    static final StateDescription<MsrEntry> MSR = StateDescription.of("msr", MsrEntry.class, 1)
            .u32("index", m -> Integer.toUnsignedLong(m.index())).u64("data", MsrEntry::data)
            .build(r -> new MsrEntry(r.getInt("index"), r.getLong("data")));

    static final StateDescription<Xcr> XCR = StateDescription.of("xcr", Xcr.class, 1)
            .u32("xcr", x -> Integer.toUnsignedLong(x.xcr())).u64("value", Xcr::value)
            .build(r -> new Xcr(r.getInt("xcr"), r.getLong("value")));
}
