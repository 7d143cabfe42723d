; The memory-bound kernel of the cuda backend (cuda.rs): x[i] = max(x[i] * a + c, 0)
; over n floats (an inference batch-norm and a ReLU), grid-stride loop.
; kernels.ptx is generated from this file, so that running needs no CUDA compiler:
;   llc -O3 -march=nvptx64 -mcpu=sm_75 -mattr=+ptx64 kernels.ll -o kernels.ptx
; (LLVM 14; PTX ISA 6.4 for sm_75, the oldest target CUDA 13 supports, compiled by the driver for the GPU at load time.)
target datalayout = "e-i64:64-i128:128-v16:16-v32:32-n16:32:64"
target triple = "nvptx64-nvidia-cuda"

declare i32 @llvm.nvvm.read.ptx.sreg.tid.x()
declare i32 @llvm.nvvm.read.ptx.sreg.ntid.x()
declare i32 @llvm.nvvm.read.ptx.sreg.ctaid.x()
declare i32 @llvm.nvvm.read.ptx.sreg.nctaid.x()
declare float @llvm.fma.f32(float, float, float)
declare float @llvm.maxnum.f32(float, float)

define void @scale_relu(float* %x, i64 %n, float %a, float %c) {
entry:
  %tid = call i32 @llvm.nvvm.read.ptx.sreg.tid.x()
  %ntid = call i32 @llvm.nvvm.read.ptx.sreg.ntid.x()
  %ctaid = call i32 @llvm.nvvm.read.ptx.sreg.ctaid.x()
  %nctaid = call i32 @llvm.nvvm.read.ptx.sreg.nctaid.x()
  %tid64 = zext i32 %tid to i64
  %ntid64 = zext i32 %ntid to i64
  %ctaid64 = zext i32 %ctaid to i64
  %nctaid64 = zext i32 %nctaid to i64
  %base = mul i64 %ctaid64, %ntid64
  %i0 = add i64 %base, %tid64
  %stride = mul i64 %nctaid64, %ntid64
  br label %loop
loop:
  %i = phi i64 [ %i0, %entry ], [ %inext, %body ]
  %done = icmp uge i64 %i, %n
  br i1 %done, label %exit, label %body
body:
  %p = getelementptr float, float* %x, i64 %i
  %v = load float, float* %p
  %s = call float @llvm.fma.f32(float %v, float %a, float %c)
  %r = call float @llvm.maxnum.f32(float %s, float 0.0)
  store float %r, float* %p
  %inext = add i64 %i, %stride
  br label %loop
exit:
  ret void
}

!nvvm.annotations = !{!0}
!0 = !{void (float*, i64, float, float)* @scale_relu, !"kernel", i32 1}
